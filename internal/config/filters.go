package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// DecodeProxy strictly decodes the config of a "proxy" network filter and
// applies its defaults: MOSN's "X" protocol with extend_config.sub_protocol
// becomes the sub protocol, and upstream_protocol defaults to the downstream
// one. path (e.g. "servers[0].listeners[0].filter_chains[0].filters[0]")
// prefixes field paths in errors.
func DecodeProxy(f Filter, path string) (*ProxyConfig, error) {
	p, _, errs := decodeProxy(f, path)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return p, nil
}

// DecodeTCPProxy strictly decodes the config of a "tcp_proxy" network filter.
func DecodeTCPProxy(f Filter, path string) (*TCPProxyConfig, error) {
	p, _, errs := decodeTCPProxy(f, path)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return p, nil
}

// configPath is the path of a filter's config block; callers may pass the
// filter's path or the config's own.
func configPath(path string) string {
	if path == "config" || strings.HasSuffix(path, ".config") {
		return path
	}
	return joinKey(path, "config")
}

func decodeProxy(f Filter, path string) (*ProxyConfig, []string, []*FieldError) {
	p := &ProxyConfig{}
	cp := configPath(path)
	warnings, errs := decodeRaw(f.Config, p, cp)
	if len(errs) > 0 {
		return nil, warnings, errs
	}
	var ext map[string]any
	if len(p.ExtendConfig) > 0 && string(p.ExtendConfig) != "null" {
		if err := json.Unmarshal(p.ExtendConfig, &ext); err != nil {
			return nil, warnings, []*FieldError{{Path: joinKey(cp, "extend_config"), Msg: "want object"}}
		}
		w, errs := checkExtendConfig(ext, joinKey(cp, "extend_config"))
		if len(errs) > 0 {
			return nil, warnings, errs
		}
		warnings = append(warnings, w...)
	}
	sub, _ := ext["sub_protocol"].(string)
	// MOSN rewrites "X" to its sub protocol when the filter is built.
	if p.DownstreamProtocol == ProtocolX && sub != "" {
		p.DownstreamProtocol = sub
	}
	if p.UpstreamProtocol == ProtocolX && sub != "" {
		p.UpstreamProtocol = sub
	}
	if p.UpstreamProtocol == "" {
		p.UpstreamProtocol = p.DownstreamProtocol
	}
	return p, warnings, nil
}

func decodeTCPProxy(f Filter, path string) (*TCPProxyConfig, []string, []*FieldError) {
	p := &TCPProxyConfig{}
	warnings, errs := decodeRaw(f.Config, p, configPath(path))
	if len(errs) > 0 {
		return nil, warnings, errs
	}
	return p, warnings, nil
}

// Protocols mosnctl serves; the rest of MOSN's names are refused by name.
var (
	supportedProtocols = []string{ProtocolHTTP1, ProtocolHTTP2, ProtocolBolt, ProtocolAuto}
	mosnOnlyProtocols  = []string{ProtocolDubbo, "boltv2", "dubbo-thrift", "tars"}
)

// checkProtocol validates a protocol name; field is the full path.
func checkProtocol(name, field string) *FieldError {
	for _, p := range supportedProtocols {
		if name == p {
			return nil
		}
	}
	supported := "(supported: " + strings.Join(supportedProtocols, ", ") + ")"
	for _, p := range mosnOnlyProtocols {
		if name == p {
			return &FieldError{Path: field, Msg: fmt.Sprintf("protocol %q is not supported yet %s", name, supported)}
		}
	}
	if name == ProtocolX {
		return &FieldError{Path: field, Msg: `protocol "X" needs extend_config.sub_protocol (e.g. "bolt")`}
	}
	for _, p := range append(append([]string(nil), supportedProtocols...), mosnOnlyProtocols...) {
		if strings.EqualFold(name, p) {
			return &FieldError{Path: field, Msg: fmt.Sprintf("unknown protocol %q (did you mean %q? names are case-sensitive)", name, p)}
		}
	}
	return &FieldError{Path: field, Msg: fmt.Sprintf("unknown protocol %q %s", name, supported)}
}

// Network filters MOSN has that mosnctl does not implement yet.
var mosnOnlyNetworkFilters = []string{FilterFaultInject, "udp_proxy", "grpc", "connection_manager", "tunnel"}

// Stream filters that mosnctl accepts and ignores with a warning rather than
// refusing the file. MOSN's SOFARPC sample lists "healthcheck", but MOSN (at
// the version its samples come from) registers no stream filter by that name
// and skips it with a log line; Bolt heartbeats are answered by the protocol
// layer instead. So the sample runs under mosnctl as it does under MOSN.
var ignoredStreamFilters = []string{"healthcheck"}

// IsIgnoredStreamFilter reports a stream filter type that is accepted and
// skipped (with a startup warning).
func IsIgnoredStreamFilter(t string) bool {
	for _, n := range ignoredStreamFilters {
		if t == n {
			return true
		}
	}
	return false
}

// filterWarnings lists unimplemented fields set inside filter configs and the
// stream filters that are accepted but ignored. Call it on a valid config.
func (c *Config) filterWarnings() []string {
	var out []string
	for si, s := range c.Servers {
		for li, l := range s.Listeners {
			lp := fmt.Sprintf("servers[%d].listeners[%d]", si, li)
			for ci, fc := range l.FilterChains {
				for fi, f := range fc.Filters {
					fp := fmt.Sprintf("%s.filter_chains[%d].filters[%d]", lp, ci, fi)
					var w []string
					switch f.Type {
					case FilterProxy:
						_, w, _ = decodeProxy(f, fp)
					case FilterTCPProxy:
						_, w, _ = decodeTCPProxy(f, fp)
					}
					out = append(out, w...)
				}
			}
			for i, f := range l.StreamFilters {
				switch {
				case IsIgnoredStreamFilter(f.Type):
					out = append(out, fmt.Sprintf("%s.stream_filters[%d] (%s)", lp, i, f.Type))
				case f.Type == StreamFilterFlowControl:
					w, _ := decodeRaw(f.Config, &FlowControlConfig{}, configPath(fmt.Sprintf("%s.stream_filters[%d]", lp, i)))
					out = append(out, w...)
				}
			}
		}
	}
	return out
}

// StreamFilterFault is MOSN's fault injection stream filter.
const StreamFilterFault = "fault"

// streamFilterTypes are the stream filter types the filter registry
// builds, told by AddStreamFilterType from its init functions; read-only
// after.
var streamFilterTypes = map[string]bool{StreamFilterFault: true, StreamFilterFlowControl: true}

// AddStreamFilterType makes a registered stream filter type valid in
// configs; the filter package calls it for each type it registers.
func AddStreamFilterType(name string) { streamFilterTypes[name] = true }

// StreamFilterTypes lists the valid stream filter types, sorted.
func StreamFilterTypes() []string {
	out := make([]string, 0, len(streamFilterTypes))
	for name := range streamFilterTypes {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// FaultConfig is the config of MOSN's "fault" stream filter: delay and/or
// abort a share of the requests, optionally only those routed to one
// cluster or carrying given headers.
type FaultConfig struct {
	Delay           *FaultDelay     `json:"delay,omitempty"`
	Abort           *FaultAbort     `json:"abort,omitempty"`
	UpstreamCluster string          `json:"upstream_cluster,omitempty"`
	Headers         []HeaderMatcher `json:"headers,omitempty"`
}

// FaultDelay holds Percentage percent of the requests for FixedDelay.
type FaultDelay struct {
	FixedDelay *Duration `json:"fixed_delay"`
	Percentage uint32    `json:"percentage"`
}

// FaultAbort answers Percentage percent of the requests with Status (an
// HTTP status; Bolt answers its nearest status).
type FaultAbort struct {
	Status     int    `json:"status"`
	Percentage uint32 `json:"percentage"`
}

// DecodeFault strictly decodes and checks the config of a "fault" stream
// filter; path is the filter's path.
func DecodeFault(f Filter, path string) (*FaultConfig, error) {
	c, errs := decodeFault(f, path)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return c, nil
}

func decodeFault(f Filter, path string) (*FaultConfig, []*FieldError) {
	c := &FaultConfig{}
	cp := configPath(path)
	if _, errs := decodeRaw(f.Config, c, cp); len(errs) > 0 {
		return nil, errs
	}
	var errs []*FieldError
	bad := func(field, msg string) { errs = append(errs, &FieldError{Path: joinKey(cp, field), Msg: msg}) }
	if c.Delay == nil && c.Abort == nil {
		bad("delay", "a fault filter needs a delay, an abort or both")
	}
	if d := c.Delay; d != nil {
		if d.FixedDelay.Get(0) <= 0 {
			bad("delay.fixed_delay", "required: a positive duration such as \"1s\"")
		}
		if d.Percentage > 100 {
			bad("delay.percentage", fmt.Sprintf("%d is over 100", d.Percentage))
		}
	}
	if a := c.Abort; a != nil {
		if a.Status < 200 || a.Status > 599 {
			bad("abort.status", fmt.Sprintf("%d is not an HTTP status to answer with (200-599)", a.Status))
		}
		if a.Percentage > 100 {
			bad("abort.percentage", fmt.Sprintf("%d is over 100", a.Percentage))
		}
	}
	return c, errs
}
