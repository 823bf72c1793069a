package tlsbench

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Every list of the JSON report is [] when empty: never null, never left out.
func TestWriteJSONEmptyListsAreArrays(t *testing.T) {
	var out bytes.Buffer
	if err := (&Report{}).WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Host struct {
			CPUFlags   json.RawMessage `json:"cpu_flags"`
			ClientCPUs json.RawMessage `json:"client_cpus"`
		} `json:"host"`
		Engines, Results, Errors, Skipped json.RawMessage
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]json.RawMessage{"host.cpu_flags": got.Host.CPUFlags, "host.client_cpus": got.Host.ClientCPUs,
		"engines": got.Engines, "results": got.Results, "errors": got.Errors, "skipped": got.Skipped} {
		if string(v) != "[]" {
			t.Errorf("%s = %s, want []", name, v)
		}
	}
}
