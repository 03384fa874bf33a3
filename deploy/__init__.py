"""Running several replicas: HAProxy config, compose file, and a local cluster for development."""
