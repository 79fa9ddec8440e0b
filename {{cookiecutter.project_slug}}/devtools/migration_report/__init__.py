"""`python -m devtools migration-report`: what each new revision does to a database, measured.

See docs/migrations.md, "Migration report".
"""
