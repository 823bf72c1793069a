package config

import (
	"fmt"
	"time"
)

// StreamFilterFlowControl is MOSN's flow control stream filter (a
// Sentinel QPS limiter in MOSN).
const StreamFilterFlowControl = "flowControlFilter"

// Flow control keys: what names a request's resource.
const (
	FlowKeyPath   = "PATH"   // the path, without the query
	FlowKeyURI    = "URI"    // the request target, query included
	FlowKeyArg    = "ARG"    // the query string
	FlowKeyHeader = "HEADER" // mosnctl's: the header limit_key_header names (Bolt: service)
)

// FlowControlConfig is the config of MOSN's "flowControlFilter": requests
// whose resource has a rule are let through at most threshold per
// statistic interval; the rest get the action's answer.
type FlowControlConfig struct {
	AppName      string `json:"app_name,omitempty"`
	LogPath      string `json:"log_path,omitempty" mosn:"unimplemented"` // Sentinel's metric log
	CallbackName string `json:"callback_name,omitempty"`
	// GlobalSwitch turns the filter on; off, it lets everything through.
	GlobalSwitch bool `json:"global_switch"`
	// Monitor counts and logs what would be blocked without blocking it.
	Monitor        bool       `json:"monitor"`
	KeyType        string     `json:"limit_key_type,omitempty"`   // default PATH
	KeyHeader      string     `json:"limit_key_header,omitempty"` // for HEADER
	Action         FlowAction `json:"action"`
	Rules          []FlowRule `json:"rules"`
	Direction      string     `json:"direction,omitempty" mosn:"unimplemented"`
	DataSourceName string     `json:"data_source,omitempty" mosn:"refused"`
}

// FlowAction is the answer of a blocked request: MOSN's defaults are 509
// and "current request is limited".
type FlowAction struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
}

// FlowRule is one of Sentinel's flow rules, of the kinds mosnctl enforces:
// a QPS threshold (grade 1), rejecting the excess at once.
type FlowRule struct {
	Resource  string  `json:"resource"`
	LimitApp  string  `json:"limitApp,omitempty"`
	Grade     int     `json:"grade"`
	Threshold float64 `json:"threshold"`
	Strategy  int     `json:"strategy"`
	// ControlBehavior 0 rejects; Sentinel's throttling (queueing) is not
	// supported. TokenCalculateStrategy 0 is the direct threshold.
	ControlBehavior        int    `json:"controlBehavior,omitempty"`
	TokenCalculateStrategy int    `json:"tokenCalculateStrategy,omitempty"`
	StatIntervalInMs       uint32 `json:"statIntervalInMs,omitempty"` // default 1000
	ID                     string `json:"id,omitempty"`
}

// Interval is the rule's statistic interval.
func (r *FlowRule) Interval() time.Duration {
	if r.StatIntervalInMs == 0 {
		return time.Second
	}
	return time.Duration(r.StatIntervalInMs) * time.Millisecond
}

// DecodeFlowControl strictly decodes and checks the config of a
// flowControlFilter; path is the filter's path.
func DecodeFlowControl(f Filter, path string) (*FlowControlConfig, error) {
	c, errs := decodeFlowControl(f, path)
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return c, nil
}

func decodeFlowControl(f Filter, path string) (*FlowControlConfig, []*FieldError) {
	c := &FlowControlConfig{}
	cp := configPath(path)
	if _, errs := decodeRaw(f.Config, c, cp); len(errs) > 0 {
		return nil, errs
	}
	var errs []*FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Path: joinKey(cp, field), Msg: fmt.Sprintf(format, args...)})
	}
	if c.KeyType == "" {
		c.KeyType = FlowKeyPath
	}
	switch c.KeyType {
	case FlowKeyPath, FlowKeyURI, FlowKeyArg:
	case FlowKeyHeader:
		if c.KeyHeader == "" {
			bad("limit_key_header", "required with limit_key_type HEADER: the header whose value is the resource")
		}
	default:
		bad("limit_key_type", "%q is not a key type (PATH, URI, ARG, HEADER)", c.KeyType)
	}
	if c.CallbackName != "" {
		bad("callback_name", "custom callbacks are MOSN plugins; mosnctl has none")
	}
	if c.Action.Status == 0 {
		c.Action.Status = 509
	}
	if c.Action.Status < 200 || c.Action.Status > 599 {
		bad("action.status", "%d is not an HTTP status to answer with (200-599)", c.Action.Status)
	}
	if c.Action.Body == "" {
		c.Action.Body = "current request is limited"
	}
	for i, r := range c.Rules {
		rp := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Resource == "":
			bad(rp+".resource", "required")
		case r.Grade != 1:
			bad(rp+".grade", "only 1 (QPS) is supported, got %d", r.Grade)
		case r.Threshold <= 0:
			bad(rp+".threshold", "must be positive, got %v", r.Threshold)
		case r.Strategy != 0:
			bad(rp+".strategy", "only 0 (direct) is supported, got %d", r.Strategy)
		case r.ControlBehavior != 0:
			bad(rp+".controlBehavior", "only 0 (reject) is supported, got %d", r.ControlBehavior)
		case r.TokenCalculateStrategy != 0:
			bad(rp+".tokenCalculateStrategy", "only 0 (direct) is supported, got %d", r.TokenCalculateStrategy)
		case r.LimitApp != "" && r.LimitApp != "default":
			bad(rp+".limitApp", "only the default origin is supported, got %q", r.LimitApp)
		}
	}
	return c, errs
}
