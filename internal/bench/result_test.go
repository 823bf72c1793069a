package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// validate checks v against the subset of JSON Schema our schema file
// uses: type, enum, minimum, required, properties, additionalProperties
// (false or a schema) and items.
func validate(schema map[string]any, v any, path string) []string {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, a...)) }
	if typ, ok := schema["type"].(string); ok {
		okType := false
		switch typ {
		case "object":
			_, okType = v.(map[string]any)
		case "array":
			_, okType = v.([]any)
		case "string":
			_, okType = v.(string)
		case "boolean":
			_, okType = v.(bool)
		case "number":
			_, okType = v.(float64)
		case "integer":
			f, isNum := v.(float64)
			okType = isNum && f == math.Trunc(f)
		}
		if !okType {
			bad("want %s, got %T", typ, v)
			return errs
		}
	}
	if enum, ok := schema["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			bad("%v not in %v", v, enum)
		}
	}
	if min, ok := schema["minimum"].(float64); ok {
		if f, isNum := v.(float64); isNum && f < min {
			bad("%v below minimum %v", f, min)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asSlice(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				bad("missing %q", r)
			}
		}
		for k, val := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(ps, val, path+"."+k)...)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					bad("unexpected field %q", k)
				}
			case map[string]any:
				errs = append(errs, validate(ap, val, path+"."+k)...)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, it := range arr {
				errs = append(errs, validate(items, it, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/result.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	return schema
}

func TestJSONOutputMatchesSchema(t *testing.T) {
	var cnt counter
	u := startHTTP(t, cnt.handler(500, "x"))
	res := run(t, Config{Targets: []string{u}, Conns: 2, Requests: 50})
	a, _ := ParseAssertion("p99<1s")
	if err := Evaluate(res, []Assertion{a}, res, 10); err == nil {
		t.Log("assertions held") // 500s are errors, but no assertion reads them
	}
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if errs := validate(loadSchema(t), doc, "$"); len(errs) > 0 {
		t.Fatalf("output does not match the schema:\n%s\n%s", strings.Join(errs, "\n"), buf.String())
	}
	// The schema is strict: a field it does not know is caught.
	doc.(map[string]any)["surprise"] = 1
	if errs := validate(loadSchema(t), doc, "$"); len(errs) == 0 {
		t.Fatal("validator accepted an unknown field")
	}
	back, err := ReadResult(&buf)
	if err != nil || back.Responses != 50 || back.Errors.Status5xx != 50 {
		t.Fatalf("read back: %v %+v", err, back)
	}
}

func TestSchemaDocumentedInREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	var walk func(prefix string, s map[string]any)
	walk = func(prefix string, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			fields = append(fields, k)
			sub := v.(map[string]any)
			walk(prefix+k+".", sub)
			if items, ok := sub["items"].(map[string]any); ok {
				walk(prefix+k+"[].", items)
			}
		}
	}
	walk("", loadSchema(t))
	sort.Strings(fields)
	for _, f := range fields {
		if !bytes.Contains(readme, []byte("`"+f+"`")) {
			t.Errorf("README.md does not document field %q", f)
		}
	}
}

func TestTableOutput(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	st := &workerStats{responses: 100, status: map[int]uint64{200: 98, 503: 2}, bytesIn: 12800}
	st.errors[errStatus5xx] = 2
	st.errors[errTimeout] = 1
	res := newResult(&Config{Targets: []string{"http://h/"}, Conns: 2, Streams: 1}, &h, st, 2*time.Second, false)
	a, _ := ParseAssertion("errors==0")
	Evaluate(res, []Assertion{a}, nil, 0)
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"requests    101 (100 responses)", "requests/s  50.0", "errors      3 (timeout 1, 5xx 2)",
		"status      200: 98, 503: 2", "p99.9", "100.00ms", "assert  FAILED  errors==0 (measured 3)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
