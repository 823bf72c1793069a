package config

import (
	"fmt"
	"strings"
	"testing"
)

// proxyListenerJSON is one proxy listener with the given protocol, extra
// listener JSON and extend_config.
func proxyListenerJSON(down, listenerExtra, extend string) string {
	ext := ""
	if extend != "" {
		ext = `, "extend_config": ` + extend
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "c"}}]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0"%s,
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": %q, "router_config_name": "r"%s}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "c", "type": "SIMPLE", "hosts": [{"address": "127.0.0.1:8080"}]}]}
}`, listenerExtra, down, ext)
}

// extend_config keys are checked: what mosnctl does passes, what it does
// not do is listed as not implemented or refused with its path, typos get
// a suggestion; write_timeout, an HTTP/1 bound, is refused on an Http2
// listener (it applies to the HTTP/1 connections of an Auto one).
func TestExtendConfigAndHTTP2ListenerFields(t *testing.T) {
	const ec = "servers[0].listeners[0].filter_chains[0].filters[0].config.extend_config"
	for _, tc := range []struct {
		name, down, listener, extend string
		err, warn                    string
	}{
		{"stream mode", "Http2", "", `{"http2_use_stream": true}`, "", ""},
		{"stream mode keyed by protocol", "Http2", "", `{"Http2": {"http2_use_stream": true}}`, "", ""},
		{"buffered mode", "Http2", "", `{"http2_use_stream": false}`, "", ec + ".http2_use_stream"},
		{"buffered mode keyed", "Auto", "", `{"Http2": {"http2_use_stream": false}}`, "", ec + ".Http2.http2_use_stream"},
		{"not a bool", "Http2", "", `{"http2_use_stream": "yes"}`, ec + ".http2_use_stream: want true or false", ""},
		{"body limit", "Http1", "", `{"max_request_body_size": 100}`, ec + ".max_request_body_size: a request body size limit is not supported yet", ""},
		{"body limit keyed", "Http1", "", `{"Http1": {"max_request_body_size": 100}}`, ec + ".Http1.max_request_body_size:", ""},
		{"typo", "Http2", "", `{"http2_use_streams": true}`, ec + `.http2_use_streams: unknown field "http2_use_streams" (did you mean "http2_use_stream"?)`, ""},
		{"protocol key not an object", "Http2", "", `{"Http2": true}`, ec + ".Http2: want object", ""},
		{"sub protocol", "X", "", `{"sub_protocol": "bolt"}`, "", ""},
		{"read timeout on Http2", "Http2", `, "read_timeout": "5s", "send_timeout": "5s", "connection_idle_timeout": "5s"`, "", "", ""},
		{"write timeout on Http2", "Http2", `, "write_timeout": "5s"`, "", "servers[0].listeners[0].write_timeout: applies to HTTP/1 responses only", ""},
		{"write timeout on Auto", "Auto", `, "write_timeout": "5s"`, "", "", ""},
		{"write timeout on Http1", "Http1", `, "write_timeout": "5s"`, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warnings, err := Parse([]byte(proxyListenerJSON(tc.down, tc.listener, tc.extend)), "json")
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want %q", err, tc.err)
			}
			w := strings.Join(warnings, "\n")
			if tc.warn != "" && !strings.Contains(w, tc.warn) || tc.warn == "" && tc.err == "" && w != "" {
				t.Fatalf("warnings %q, want %q", w, tc.warn)
			}
		})
	}
}
