"""The commands: `vapi-bridge run|loop|standby|ctl|listen|check|devices|demo|init|sim`."""
