package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LogVar is a variable of a MOSN access log format (%name%): what one
// piece of a line prints.
type LogVar uint8

// The variables mosnctl records, by MOSN's names (logVarNames).
const (
	LogText                    LogVar = iota // the piece is literal text
	LogStartTime                             // start_time: local time, 2006/01/02 15:04:05.000
	LogDuration                              // duration: arrival to end, as Go prints a duration
	LogRequestFinishedDuration               // request_finished_duration: the same moment in mosnctl
	LogBytesSent                             // bytes_sent: bytes written downstream
	LogBytesReceived                         // bytes_received: bytes of the request read
	LogProtocol                              // protocol: Http1, Http2 or bolt
	LogResponseCode                          // response_code: the status (a Bolt answer's as HTTP)
	LogResponseFlag                          // response_flag(s): true when the proxy answered a failure itself
	LogUpstreamHost                          // upstream_host
	LogUpstreamCluster                       // upstream_cluster
	LogDownstreamLocalAddress                // downstream_local_address
	LogDownstreamRemoteAddress               // downstream_remote_address
	LogListenerName                          // listener_name
	LogHTTP1Method                           // Http1_request_method
	LogHTTP1URI                              // Http1_request_uri
	LogHTTP2Method                           // Http2_request_method
	LogHTTP2URI                              // Http2_request_uri
)

// LogPiece is one piece of a compiled access log format: literal text, or
// a variable.
type LogPiece struct {
	Var  LogVar
	Text string // LogText only
}

// DefaultAccessLogFormat is used when log_format is empty: MOSN's default
// format without the variables mosnctl does not record (trace_id,
// connection_id, upstream_connection_id, request_received_duration,
// response_received_duration, upstream_local_address).
const DefaultAccessLogFormat = "%start_time% %bytes_sent% %bytes_received% %protocol% %response_code% %duration% " +
	"%response_flag% %response_code% %downstream_local_address% %downstream_remote_address% %upstream_host%"

var logVarNames = map[string]LogVar{
	"start_time":                LogStartTime,
	"duration":                  LogDuration,
	"request_finished_duration": LogRequestFinishedDuration,
	"bytes_sent":                LogBytesSent,
	"bytes_received":            LogBytesReceived,
	"protocol":                  LogProtocol,
	"response_code":             LogResponseCode,
	"response_flag":             LogResponseFlag,
	"response_flags":            LogResponseFlag,
	"upstream_host":             LogUpstreamHost,
	"upstream_cluster":          LogUpstreamCluster,
	"downstream_local_address":  LogDownstreamLocalAddress,
	"downstream_remote_address": LogDownstreamRemoteAddress,
	"listener_name":             LogListenerName,
	"Http1_request_method":      LogHTTP1Method,
	"Http1_request_uri":         LogHTTP1URI,
	"Http2_request_method":      LogHTTP2Method,
	"Http2_request_uri":         LogHTTP2URI,
}

// unrecordedLogVars are MOSN variables mosnctl has no data for (yet):
// refused rather than printed empty.
var unrecordedLogVars = []string{
	"trace_id", "connection_id", "upstream_connection_id", "request_received_duration",
	"response_received_duration", "process_time_duration", "upstream_local_address",
	"upstream_transport_failure_reason", "requested_server_name", "route_name", "stream_id",
}

// unrecordedLogPrefixes are MOSN's variable families mosnctl has no data
// for: the request and response headers are gone when a request ends.
var unrecordedLogPrefixes = []string{
	"request_header_", "response_header_", "Http1_request_header_", "Http2_request_header_",
	"Http1_cookie_", "Http2_cookie_", "Http1_request_arg", "Http2_request_arg",
}

// LogVariables lists the variable names an access log format may use.
func LogVariables() []string {
	names := make([]string, 0, len(logVarNames))
	for n := range logVarNames {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseLogFormat compiles a MOSN access log format ("" is
// DefaultAccessLogFormat): text with %name% variables; \% is a literal
// percent sign. A variable mosnctl does not know or does not record is an
// error, never an empty field.
func ParseLogFormat(format string) ([]LogPiece, error) {
	if format == "" {
		format = DefaultAccessLogFormat
	}
	var pieces []LogPiece
	var text strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c == '\\' && i+1 < len(format) && format[i+1] == '%' {
			text.WriteByte('%')
			i++
			continue
		}
		if c != '%' {
			text.WriteByte(c)
			continue
		}
		end := strings.IndexByte(format[i+1:], '%')
		if end < 0 {
			return nil, errors.New(`unclosed variable: a % starts a variable name (write \% for a percent sign)`)
		}
		name := format[i+1 : i+1+end]
		v, err := logVar(name)
		if err != nil {
			return nil, err
		}
		if text.Len() > 0 {
			pieces = append(pieces, LogPiece{Text: text.String()})
			text.Reset()
		}
		pieces = append(pieces, LogPiece{Var: v})
		i += end + 1
	}
	if text.Len() > 0 {
		pieces = append(pieces, LogPiece{Text: text.String()})
	}
	return pieces, nil
}

func logVar(name string) (LogVar, error) {
	if name == "" {
		return 0, errors.New(`empty variable %% (write \% for a percent sign)`)
	}
	if v, ok := logVarNames[name]; ok {
		return v, nil
	}
	if slices.Contains(unrecordedLogVars, name) || slices.ContainsFunc(unrecordedLogPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
		return 0, fmt.Errorf("variable %%%s%% is not recorded by mosnctl (supported: %s)", name, strings.Join(LogVariables(), ", "))
	}
	return 0, fmt.Errorf("unknown variable %%%s%% (supported: %s)", name, strings.Join(LogVariables(), ", "))
}

// accessLogs checks a listener's access logs: MOSN's, and mosnctl's JSON
// one. Only proxy listeners log requests.
func (v *validator) accessLogs(l *Listener, lp string) {
	if len(l.FilterChains) > 0 && len(l.FilterChains[0].Filters) > 0 && l.FilterChains[0].Filters[0].Type == FilterTCPProxy {
		if l.AccessLog != "" {
			v.errorf(lp+".access_log", "a tcp_proxy listener has no access log yet (only proxy listeners log requests)")
		}
		if len(l.AccessLogs) > 0 {
			v.errorf(lp+".access_logs", "a tcp_proxy listener has no access log yet (only proxy listeners log requests)")
		}
		return
	}
	for i, a := range l.AccessLogs {
		p := fmt.Sprintf("%s.access_logs[%d]", lp, i)
		if a.Path == "" {
			v.errorf(p+".log_path", "required: a file path, stdout or stderr")
		}
		if _, err := ParseLogFormat(a.Format); err != nil {
			v.errorf(p+".log_format", "%v", err)
		}
	}
}
