"""The wiring: the Faust app object, the CLI and its commands, the local stack, replay and provisioning."""
