package config

// Convertible reports whether a proxy converts requests of downstream
// protocol down to upstream protocol up: HTTP/1 and HTTP/2, both ways.
func Convertible(down, up string) bool {
	return down == ProtocolHTTP1 && up == ProtocolHTTP2 || down == ProtocolHTTP2 && up == ProtocolHTTP1
}
