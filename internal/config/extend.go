package config

import (
	"fmt"
	"sort"
)

// The proxy filter's extend_config, in MOSN's two forms: flat
// ({"sub_protocol": "bolt", "http2_use_stream": true}) or keyed by protocol
// name ({"Http2": {"http2_use_stream": true}}). mosnctl reads sub_protocol;
// every other key either matches what mosnctl does, is listed as not
// implemented, or is refused, so none is silently ignored.

// extendKeys are the flat keys MOSN's proxy reads.
var extendKeys = []string{"sub_protocol", "http2_use_stream", "max_request_body_size"}

// checkExtendConfig checks ext (the decoded extend_config at path) and
// returns the paths of keys accepted but not implemented.
func checkExtendConfig(ext map[string]any, path string) (warnings []string, errs []*FieldError) {
	keys := make([]string, 0, len(ext))
	for k := range ext {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, kp := ext[k], joinKey(path, k)
		switch k {
		case "sub_protocol":
			if _, ok := v.(string); !ok {
				errs = append(errs, &FieldError{Path: kp, Msg: "want a protocol name"})
			}
		case "http2_use_stream":
			// mosnctl always streams HTTP/2 bodies (MOSN's true); false,
			// MOSN's default, buffers whole bodies, which mosnctl does not.
			b, ok := v.(bool)
			switch {
			case !ok:
				errs = append(errs, &FieldError{Path: kp, Msg: "want true or false"})
			case !b:
				warnings = append(warnings, kp)
			}
		case "max_request_body_size":
			errs = append(errs, &FieldError{Path: kp, Msg: "a request body size limit is not supported yet; remove it (bodies stream through)"})
		case ProtocolHTTP1, ProtocolHTTP2, ProtocolBolt, ProtocolAuto, ProtocolDubbo, ProtocolX:
			sub, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, &FieldError{Path: kp, Msg: "want object"})
				continue
			}
			w, e := checkExtendConfig(sub, kp)
			warnings, errs = append(warnings, w...), append(errs, e...)
		default:
			errs = append(errs, &FieldError{Path: kp, Msg: fmt.Sprintf("unknown field %q%s", k, suggestName(k, extendKeys))})
		}
	}
	return warnings, errs
}

// checkHTTP2Listener refuses listener fields an Http2 listener would not
// apply: write_timeout bounds an HTTP/1 response; an HTTP/2 client that
// does not read is bounded by send_timeout (the connection) and the
// route's timeout and idle_timeout (each stream).
func (v *validator) checkHTTP2Listener(l *Listener, lp string) {
	if l.WriteTimeout == nil || len(l.FilterChains) != 1 {
		return
	}
	for _, f := range l.FilterChains[0].Filters {
		if f.Type != FilterProxy {
			continue
		}
		if p, _, errs := decodeProxy(f, lp); len(errs) == 0 && p.DownstreamProtocol == ProtocolHTTP2 {
			v.errorf(lp+".write_timeout", "applies to HTTP/1 responses only; an Http2 listener bounds a client that does not read with send_timeout, and each stream with the route's timeout and idle_timeout")
		}
	}
}
