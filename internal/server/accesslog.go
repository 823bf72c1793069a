package server

import (
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/proxy"
)

// listenerLogs are the access logs of one listener build: mosnctl's JSON
// log (access_log) and MOSN's formatted ones (access_logs). A build takes
// them over from the build before when their config did not change, so a
// reload neither reopens nor loses buffered lines; opened is what this
// build opened itself, closed when the server stops (requests still in
// flight on an old build may log to it until then) or at once when a
// reload is refused.
type listenerLogs struct {
	json    *proxy.AccessLog
	formats []*proxy.FormatLog
	opened  []io.Closer
}

// openListenerLogs opens lc's access logs, or takes old's where they stay
// the same.
func openListenerLogs(lc *config.Listener, path string, old *runningListener) (l listenerLogs, err error) {
	defer func() {
		if err != nil {
			l.closeOpened()
		}
	}()
	if old != nil && old.cfg.AccessLog == lc.AccessLog {
		l.json = old.logs.json
	} else if lc.AccessLog != "" {
		al, err := proxy.OpenAccessLog(lc.AccessLog)
		if err != nil {
			return l, fmt.Errorf("%s.access_log: %w", path, err)
		}
		l.json = al
		l.opened = append(l.opened, al)
	}
	if old != nil && slices.Equal(old.cfg.AccessLogs, lc.AccessLogs) {
		l.formats = old.logs.formats
		return l, nil
	}
	for i, a := range lc.AccessLogs {
		ap := fmt.Sprintf("%s.access_logs[%d]", path, i)
		pieces, err := config.ParseLogFormat(a.Format)
		if err != nil {
			return l, fmt.Errorf("%s.log_format: %w", ap, err)
		}
		fl, err := proxy.OpenFormatLog(a.Path, pieces)
		if err != nil {
			return l, fmt.Errorf("%s.log_path: %w", ap, err)
		}
		l.formats = append(l.formats, fl)
		l.opened = append(l.opened, fl)
	}
	return l, nil
}

// logger is what the listener's proxies log each request to; nil: no log.
func (l *listenerLogs) logger() proxy.AccessLogger {
	var all proxy.AccessLogs
	if l.json != nil {
		all = append(all, l.json)
	}
	for _, f := range l.formats {
		all = append(all, f)
	}
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	return all
}

// closeOpened closes the logs this build opened.
func (l *listenerLogs) closeOpened() {
	for _, c := range l.opened {
		c.Close()
	}
	l.opened = nil
}

// logRef is the access log a listener's proxies write to: a reload swaps
// it under open connections, as it swaps their routes, so a keep-alive
// connection's next request goes to the new logs.
type logRef struct{ p atomic.Pointer[loggerBox] }

type loggerBox struct{ l proxy.AccessLogger } // nil: none

// Log implements proxy.AccessLogger.
func (r *logRef) Log(e *proxy.AccessEntry) {
	if b := r.p.Load(); b != nil && b.l != nil {
		b.l.Log(e)
	}
}

// closeLogsOnError closes the logs the builds opened when *err is set: a
// config refused half-built leaves no file open.
func closeLogsOnError(err *error, builds *[]*runningListener) {
	if *err != nil {
		for _, rl := range *builds {
			rl.logs.closeOpened()
		}
	}
}
