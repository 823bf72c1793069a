package config

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse: it must not panic, every
// refusal must be a *FieldError with a message, and every accepted config
// must validate again and survive a JSON round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"servers":[]}`), "json")
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		switch format {
		case "json", "yaml", "":
		default:
			format = ""
		}
		cfg, warnings, err := Parse(data, format)
		if err != nil {
			checkFieldErrors(t, err)
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
		if len(warnings) > 1 {
			t.Fatalf("more than one warning message: %q", warnings)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate again: %v", err)
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, _, err := Parse(b, "json"); err != nil {
			t.Fatalf("round trip refused: %v\n%s", err, b)
		}
	})
}

func checkFieldErrors(t *testing.T, err error) {
	t.Helper()
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			checkFieldErrors(t, e)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error is %T, not *FieldError: %v", err, err)
	}
	if fe.Msg == "" {
		t.Fatalf("empty message at %q", fe.Path)
	}
}
