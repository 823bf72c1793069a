package bench

// ReadReplay reads the requests of a pcap capture.
func ReadReplay(path string) ([]Request, error) {
	return nil, usageErrorf("replay: not yet")
}
