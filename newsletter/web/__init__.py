"""The web app: members' preference centre, staff console and JSON API (see app.create_app)."""
