package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// RetryOn is a route's retry_on in either form: MOSN's boolean (true:
// retry connect failures, resets and 5xx answers, or the status_codes when
// given) or Envoy's comma-separated conditions.
type RetryOn struct {
	Enabled    bool
	Conditions []string // Envoy's form; nil for MOSN's
}

// The retry conditions of Envoy's form that mosnctl honours.
const (
	Retry5xx            = "5xx"
	RetryGatewayError   = "gateway-error"
	RetryReset          = "reset"
	RetryConnectFailure = "connect-failure"
	RetryStatusCodes    = "retriable-status-codes"
	// RetryRefusedStream is an HTTP/2 stream the upstream refused before
	// it processed anything: retried as a reset.
	RetryRefusedStream = "refused-stream"
)

var retryConditions = []string{Retry5xx, RetryGatewayError, RetryReset, RetryConnectFailure, RetryStatusCodes, RetryRefusedStream}

// UnmarshalJSON takes true/false or a condition list ("5xx,reset").
func (r *RetryOn) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var on bool
	if err := json.Unmarshal(b, &on); err == nil {
		*r = RetryOn{Enabled: on}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want true, false or conditions such as %q", "5xx,connect-failure")
	}
	return r.Parse(s)
}

// Parse takes Envoy's comma-separated conditions.
func (r *RetryOn) Parse(s string) error {
	*r = RetryOn{}
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		known := false
		for _, k := range retryConditions {
			known = known || c == k
		}
		if !known {
			return fmt.Errorf("retry condition %q is not supported (supported: %s)", c, strings.Join(retryConditions, ", "))
		}
		r.Conditions = append(r.Conditions, c)
	}
	r.Enabled = len(r.Conditions) > 0
	if !r.Enabled {
		r.Conditions = []string{} // "" turns retries off, still in Envoy's form
	}
	return nil
}

// MarshalJSON writes the form it was read in.
func (r RetryOn) MarshalJSON() ([]byte, error) {
	if r.Conditions == nil {
		return json.Marshal(r.Enabled)
	}
	return json.Marshal(strings.Join(r.Conditions, ","))
}

// Has reports whether retries are on for condition c: in MOSN's form every
// condition but retriable-status-codes is (the status codes are checked
// apart).
func (r RetryOn) Has(c string) bool {
	if r.Conditions == nil {
		return r.Enabled && c != RetryGatewayError && c != RetryStatusCodes
	}
	for _, x := range r.Conditions {
		if x == c || c == RetryReset && x == RetryRefusedStream {
			return true
		}
	}
	return false
}
