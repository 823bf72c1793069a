package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLogFormat(t *testing.T) {
	tests := []struct {
		format string
		want   []LogPiece
		err    string // prefix of the error; "" means valid
	}{
		{"%start_time% %protocol%", []LogPiece{{Var: LogStartTime}, {Text: " "}, {Var: LogProtocol}}, ""},
		{"code=%response_code% up=%upstream_host%\n", []LogPiece{{Text: "code="}, {Var: LogResponseCode},
			{Text: " up="}, {Var: LogUpstreamHost}, {Text: "\n"}}, ""},
		{`100\% %response_flags%`, []LogPiece{{Text: "100% "}, {Var: LogResponseFlag}}, ""},
		{"plain", []LogPiece{{Text: "plain"}}, ""},
		{`back\slash`, []LogPiece{{Text: `back\slash`}}, ""},
		{"%Http1_request_uri%%Http2_request_method%", []LogPiece{{Var: LogHTTP1URI}, {Var: LogHTTP2Method}}, ""},
		{"%foo%", nil, "unknown variable %foo% (supported: "},
		{"a %trace_id%", nil, "variable %trace_id% is not recorded by mosnctl (supported: "},
		{"%request_header_x-id%", nil, "variable %request_header_x-id% is not recorded by mosnctl"},
		{"%duration", nil, "unclosed variable"},
		{"%%", nil, "empty variable %%"},
	}
	for _, tt := range tests {
		got, err := ParseLogFormat(tt.format)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%q: got error %v, want %q...", tt.format, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.format, got, err, tt.want)
		}
	}
}

// The default format is MOSN's, less what mosnctl does not record: it
// compiles, and keeps MOSN's order.
func TestDefaultLogFormat(t *testing.T) {
	got, err := ParseLogFormat("")
	if err != nil {
		t.Fatal(err)
	}
	var vars []LogVar
	for _, p := range got {
		if p.Var != LogText {
			vars = append(vars, p.Var)
		} else if p.Text != " " {
			t.Errorf("text piece %q, want single spaces", p.Text)
		}
	}
	want := []LogVar{LogStartTime, LogBytesSent, LogBytesReceived, LogProtocol, LogResponseCode, LogDuration,
		LogResponseFlag, LogResponseCode, LogDownstreamLocalAddress, LogDownstreamRemoteAddress, LogUpstreamHost}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("default format variables %v, want %v", vars, want)
	}
}

// A bad access_logs entry is refused with its path.
func TestValidateAccessLogs(t *testing.T) {
	tests := []struct {
		name string
		logs []any
		want string // error prefix; "" means valid
	}{
		{"valid", []any{obj("log_path", "stdout", "log_format", "%start_time% %response_code%"), obj("log_path", "/tmp/a.log")}, ""},
		{"unknown variable", []any{obj("log_path", "stdout"), obj("log_path", "stdout", "log_format", "%foo%")},
			l0 + ".access_logs[1].log_format: unknown variable %foo%"},
		{"unrecorded variable", []any{obj("log_path", "stdout", "log_format", "%upstream_local_address%")},
			l0 + ".access_logs[0].log_format: variable %upstream_local_address% is not recorded by mosnctl"},
		{"no path", []any{obj("log_format", "%duration%")},
			l0 + ".access_logs[0].log_path: required: a file path, stdout or stderr"},
		{"tcp_proxy", []any{obj("log_path", "stdout")}, "tcp"},
		{"misspelt key", []any{obj("log_path", "stdout", "log_fromat", "%duration%")},
			l0 + `.access_logs[0].log_fromat: unknown field (did you mean "log_format"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edits := []edit{{l0 + ".access_logs", tt.logs}}
			if tt.want == "tcp" {
				edits = append(edits, edit{l0 + ".filter_chains[0].filters[0]", obj("type", "tcp_proxy", "config", obj("cluster", "c1"))},
					edit{l0 + ".access_log", "stdout"})
				tt.want = l0 + ".access_log: a tcp_proxy listener has no access log yet (only proxy listeners log requests)\n" +
					l0 + ".access_logs: a tcp_proxy listener has no access log yet"
			}
			data := applyEdits(t, loadBase(t), edits)
			_, _, err := Parse(data, "json")
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("got error\n  %v\nwant\n  %s...", err, tt.want)
			}
		})
	}
}

// FuzzParseLogFormat: any format compiles or is refused without a panic;
// a compiled one names only known variables, has no empty or adjacent
// text pieces, and writes each of its literal characters once.
func FuzzParseLogFormat(f *testing.F) {
	for _, s := range []string{"", DefaultAccessLogFormat, `100\% %duration%`, "%", "%%", "%foo%", `\`, `a\\%x%`,
		"%request_header_x%", "text only", "%Http1_request_uri%%protocol%\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, format string) {
		pieces, err := ParseLogFormat(format)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		known := map[LogVar]bool{}
		for _, v := range logVarNames {
			known[v] = true
		}
		for i, p := range pieces {
			switch {
			case p.Var == LogText && p.Text == "":
				t.Fatalf("empty text piece in %q", format)
			case p.Var == LogText && i > 0 && pieces[i-1].Var == LogText:
				t.Fatalf("adjacent text pieces in %q", format)
			case p.Var != LogText && (!known[p.Var] || p.Text != ""):
				t.Fatalf("bad variable piece %+v in %q", p, format)
			}
		}
	})
}
