package bench

// newBoltProtocol serves bolt:// targets.
func newBoltProtocol(cfg *Config, t []target, reqs []Request) (protocol, error) {
	return nil, usageErrorf("bolt: not available yet")
}
