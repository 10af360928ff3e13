# {{app_name}} configuration, rendered by jetlike
[server]
name = {{app_name}}
port = {{listen_port}}

[api]
# from the environment (DEMO_API_TOKEN) via --loadenv; visible to templates only
token = {{ENV_DEMO_API_TOKEN}}
