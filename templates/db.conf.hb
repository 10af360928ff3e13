# database connection, rendered by jetlike
[database]
host = db.internal
user = app
# a declared secret: see the play's secrets: in playbooks/rotate-db-password.yml
password = {{ENV_DB_PASSWORD}}
