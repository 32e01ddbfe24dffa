"""The `optisim` verbs that poke a running simulator (campaigns, events, clock, report,
tail, deliveries, faults, tenants, secret, wait, collect), all on the control client
(`simulator.control_client`): no hand-built `/_sim` requests here."""
