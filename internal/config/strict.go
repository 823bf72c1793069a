package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// FieldError is a problem with one field of the config, named by its path
// (e.g. "servers[0].listeners[1].address").
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// maxErrors caps how many problems one error reports: past that the user
// fixes the first ones and reloads.
const maxErrors = 20

// joinErrors sorts errs by path and returns nil, the single *FieldError, or
// errors.Join of at most maxErrors of them.
func joinErrors(errs []*FieldError) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	sort.SliceStable(errs, func(i, j int) bool { return pathLess(errs[i].Path, errs[j].Path) })
	n := len(errs)
	if n > maxErrors {
		errs = append(errs[:maxErrors:maxErrors], &FieldError{Msg: fmt.Sprintf("and %d more errors", n-maxErrors)})
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// pathLess orders paths so that servers[2] sorts before servers[10].
func pathLess(a, b string) bool {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			na, ra := leadingNumber(a)
			nb, rb := leadingNumber(b)
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func leadingNumber(s string) (int, string) {
	i := 0
	n := 0
	for i < len(s) && isDigit(s[i]) {
		if n < math.MaxInt32 {
			n = n*10 + int(s[i]-'0')
		}
		i++
	}
	return n, s[i:]
}

// parseTree decodes a JSON or YAML document into a generic tree of
// map[string]any, []any, string, json.Number, bool and nil, so that the strict
// walker can report unknown fields with their paths.
func parseTree(data []byte, format string) (any, error) {
	switch format {
	case "json":
		return parseJSONTree(data)
	case "yaml":
		return parseYAMLTree(data)
	case "":
		if !looksLikeJSON(data) {
			return parseYAMLTree(data)
		}
		tree, err := parseJSONTree(data)
		if err == nil {
			return tree, nil
		}
		// A YAML flow mapping ({a: 1}) also starts with a brace; when the
		// content is not JSON but is YAML, take it, else report it as JSON.
		if y, yerr := parseYAMLTree(data); yerr == nil {
			return y, nil
		}
		return nil, err
	}
	return nil, &FieldError{Msg: fmt.Sprintf("unknown config format %q (want json or yaml)", format)}
}

func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func parseJSONTree(data []byte) (any, error) {
	p := &jsonTreeParser{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	p.dec.UseNumber()
	v, err := p.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		line, col := lineCol(data, p.dec.InputOffset())
		return nil, &FieldError{Msg: fmt.Sprintf("invalid JSON at line %d column %d: data after the top-level value", line, col)}
	}
	return v, nil
}

// jsonTreeParser builds the tree token by token (rather than with Decode)
// so that a key given twice is reported instead of silently overwritten.
type jsonTreeParser struct {
	dec  *json.Decoder
	data []byte
}

func (p *jsonTreeParser) value(path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &FieldError{Path: path, Msg: "nested too deeply"}
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, jsonSyntaxError(p.data, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		m := map[string]any{}
		for p.dec.More() {
			kt, err := p.dec.Token()
			if err != nil {
				return nil, jsonSyntaxError(p.data, err)
			}
			k, _ := kt.(string)
			child := joinKey(path, k)
			if _, dup := m[k]; dup {
				line, _ := lineCol(p.data, p.dec.InputOffset())
				return nil, &FieldError{Path: child, Msg: fmt.Sprintf("duplicate key (line %d)", line)}
			}
			v, err := p.value(child, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		if _, err := p.dec.Token(); err != nil {
			return nil, jsonSyntaxError(p.data, err)
		}
		return m, nil
	case '[':
		s := []any{}
		for p.dec.More() {
			v, err := p.value(fmt.Sprintf("%s[%d]", path, len(s)), depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		if _, err := p.dec.Token(); err != nil {
			return nil, jsonSyntaxError(p.data, err)
		}
		return s, nil
	}
	line, col := lineCol(p.data, p.dec.InputOffset())
	return nil, &FieldError{Msg: fmt.Sprintf("invalid JSON at line %d column %d: unexpected %q", line, col, d)}
}

func jsonSyntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Decoder.Token and Unmarshal disagree on where Offset points; the
		// full scanner's error is the consistent one: Offset counts the
		// bytes read including the offending one.
		var discard any
		var full *json.SyntaxError
		if errors.As(json.Unmarshal(data, &discard), &full) {
			se = full
		}
		line, col := lineCol(data, se.Offset-1)
		return &FieldError{Msg: fmt.Sprintf("invalid JSON at line %d column %d: %s", line, col, se.Error())}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if len(bytes.TrimSpace(data)) == 0 {
			return &FieldError{Msg: "empty config"}
		}
		return &FieldError{Msg: "invalid JSON: unexpected end of input"}
	}
	return &FieldError{Msg: "invalid JSON: " + err.Error()}
}

func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func parseYAMLTree(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FieldError{Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 {
		return nil, &FieldError{Msg: "empty config"}
	}
	return yamlToTree(&doc, "", 0)
}

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxDepth = 200

func yamlToTree(n *yaml.Node, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, &FieldError{Path: path, Msg: "nested too deeply"}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlToTree(n.Content[0], path, depth+1)
	case yaml.AliasNode:
		// Aliases would let a small document expand hugely; configs need none.
		return nil, &FieldError{Path: path, Msg: fmt.Sprintf("YAML aliases are not supported (line %d)", n.Line)}
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, &FieldError{Path: path, Msg: fmt.Sprintf("YAML key at line %d is not a scalar", k.Line)}
			}
			if k.Tag == "!!merge" {
				return nil, &FieldError{Path: path, Msg: fmt.Sprintf("YAML merge keys are not supported (line %d)", k.Line)}
			}
			child := joinKey(path, k.Value)
			if _, dup := m[k.Value]; dup {
				return nil, &FieldError{Path: child, Msg: fmt.Sprintf("duplicate key (line %d)", k.Line)}
			}
			cv, err := yamlToTree(v, child, depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = cv
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			cv, err := yamlToTree(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, cv)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, &FieldError{Path: path, Msg: fmt.Sprintf("invalid boolean %q (line %d)", n.Value, n.Line)}
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
			var u uint64
			if err := n.Decode(&u); err == nil {
				return json.Number(strconv.FormatUint(u, 10)), nil
			}
			return nil, &FieldError{Path: path, Msg: fmt.Sprintf("invalid integer %q (line %d)", n.Value, n.Line)}
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, &FieldError{Path: path, Msg: fmt.Sprintf("invalid number %q (line %d)", n.Value, n.Line)}
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		case "!!str", "!!binary", "!!timestamp":
			return n.Value, nil
		default:
			return n.Value, nil
		}
	}
	return nil, &FieldError{Path: path, Msg: "unsupported YAML node"}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walker checks a generic tree against a Go type the way encoding/json would
// decode it, but strictly: unknown keys and wrong JSON types are errors with
// paths, and fields tagged mosn:"unimplemented" are collected as warnings.
type walker struct {
	errs     []*FieldError
	warnings []string
}

func (w *walker) errorf(path, format string, args ...any) {
	w.errs = append(w.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

func (w *walker) walk(v any, t reflect.Type, path string, depth int) {
	if v == nil {
		return // null leaves the zero value, as encoding/json does
	}
	if depth > maxDepth {
		w.errorf(path, "nested too deeply")
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		b, err := json.Marshal(v)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b)
		}
		if err != nil {
			w.errorf(path, "%s", err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			w.wrongType(v, "object", path)
			return
		}
		w.walkStruct(obj, t, path, depth)
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			w.wrongType(v, "array", path)
			return
		}
		for i, e := range arr {
			w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			w.wrongType(v, "object", path)
			return
		}
		for _, k := range sortedKeys(obj) {
			w.walk(obj[k], t.Elem(), joinKey(path, k), depth+1)
		}
	case reflect.Interface:
		// any value is fine
	case reflect.String:
		if _, ok := v.(string); !ok {
			w.wrongType(v, "string", path)
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			w.wrongType(v, "boolean (true or false)", path)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			w.wrongType(v, "integer", path)
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			w.errorf(path, "want an integer that fits %d bits, got %s", t.Bits(), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			w.wrongType(v, "non-negative integer", path)
			return
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			w.errorf(path, "want a non-negative integer that fits %d bits, got %s", t.Bits(), n)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			w.wrongType(v, "number", path)
			return
		}
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			w.errorf(path, "want a number, got %s", n)
		}
	default:
		w.errorf(path, "field of unsupported kind %s", t.Kind())
	}
}

func (w *walker) wrongType(v any, want, path string) {
	w.errorf(path, "want %s, got %s", want, jsonKind(v))
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		if len(x) > 40 || !utf8.ValidString(x) {
			return "string"
		}
		return strconv.Quote(x) + " (string)"
	case json.Number:
		return string(x) + " (number)"
	case bool:
		return strconv.FormatBool(x) + " (boolean)"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// structField is one JSON-visible field of a struct.
type structField struct {
	name          string
	index         int
	unimplemented bool // accepted with a startup warning
	refused       bool // unimplemented and would change routing or security: refused when set
}

func fieldsOf(t reflect.Type) []structField {
	fields := make([]structField, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		tag = f.Tag.Get("mosn")
		fields = append(fields, structField{name: name, index: i, unimplemented: tag == "unimplemented", refused: tag == "refused"})
	}
	return fields
}

func (w *walker) walkStruct(obj map[string]any, t reflect.Type, path string, depth int) {
	fields := fieldsOf(t)
	seen := make(map[int]string, len(obj))
	for _, k := range sortedKeys(obj) {
		child := joinKey(path, k)
		f := matchField(fields, k)
		if f == nil {
			w.errorf(child, "unknown field%s", suggest(k, fields))
			continue
		}
		if prev, dup := seen[f.index]; dup {
			w.errorf(child, "field given twice (also as %q)", prev)
			continue
		}
		seen[f.index] = k
		v := obj[k]
		if f.unimplemented && v != nil {
			w.warnings = append(w.warnings, joinKey(path, f.name))
		}
		if f.refused && isSet(v) {
			w.errorf(child, "not supported yet, and ignoring it would change routing or security")
			continue
		}
		w.walk(v, t.Field(f.index).Type, child, depth+1)
	}
}

// isSet reports a JSON value that asks for something: not null, false, 0,
// "" or an empty object or array.
func isSet(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case json.Number:
		return x.String() != "0"
	case float64:
		return x != 0
	}
	return true
}

// matchField finds the field for a key: exact name first, then ASCII
// case-insensitively as encoding/json does (MOSN samples write "Name").
func matchField(fields []structField, key string) *structField {
	for i := range fields {
		if fields[i].name == key {
			return &fields[i]
		}
	}
	for i := range fields {
		if asciiEqualFold(fields[i].name, key) {
			return &fields[i]
		}
	}
	return nil
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// suggest returns ` (did you mean "x"?)` for the closest field name when the
// key is a likely typo of it: a case/underscore/dash variant or within
// Levenshtein distance 2.
func suggest(key string, fields []structField) string {
	norm := func(s string) string {
		s = strings.ToLower(s)
		return strings.NewReplacer("_", "", "-", "").Replace(s)
	}
	nk := norm(key)
	best, bestDist := "", 3
	for _, f := range fields {
		if norm(f.name) == nk {
			return fmt.Sprintf(" (did you mean %q?)", f.name)
		}
		if d := levenshtein(strings.ToLower(key), strings.ToLower(f.name), bestDist); d < bestDist {
			best, bestDist = f.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// levenshtein returns the edit distance of a and b, or limit when it is at
// least limit (so long unrelated keys cost little).
func levenshtein(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	if len(a) > 256 || len(b) > 256 {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeTree strictly checks tree against v's type and, when it is clean,
// decodes it into v. Paths in errors and warnings start with path.
func decodeTree(tree any, v any, path string) (warnings []string, errs []*FieldError) {
	w := &walker{}
	w.walk(tree, reflect.TypeOf(v), path, 0)
	if len(w.errs) > 0 {
		return w.warnings, w.errs
	}
	b, err := json.Marshal(tree)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		// The walker should have caught everything encoding/json refuses;
		// report what slipped through rather than panic or ignore it.
		return w.warnings, []*FieldError{{Path: path, Msg: err.Error()}}
	}
	return w.warnings, nil
}

// decodeRaw strictly decodes a raw JSON value (a filter's config block).
func decodeRaw(raw json.RawMessage, v any, path string) (warnings []string, errs []*FieldError) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	tree, err := parseJSONTree(raw)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, []*FieldError{{Path: path, Msg: fe.Msg}}
		}
		return nil, []*FieldError{{Path: path, Msg: err.Error()}}
	}
	if tree == nil {
		tree = map[string]any{}
	}
	return decodeTree(tree, v, path)
}
