package serve

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/upgrade"
)

// takeover is a serve started by `mosnctl upgrade`: it reports to the
// upgrade command on the status pipe. Its methods accept a nil receiver
// (a plain serve).
type takeover struct {
	t      *upgrade.Target
	status *upgrade.Status
	log    *slog.Logger
}

func connectOld(ctx context.Context, opts Options, log *slog.Logger) (*takeover, error) {
	status := upgrade.OpenStatus(opts.UpgradeStatusFD)
	t, err := upgrade.Connect(ctx, opts.UpgradeFrom, log)
	if err != nil {
		status.Send(upgrade.Event{Event: "error", Error: err.Error()})
		status.Close()
		return nil, cli.Failed(err)
	}
	log.Info("upgrade: received listeners from the old process", "old_pid", t.OldPID(), "listeners", len(t.Listeners()))
	status.Send(upgrade.Event{Event: "listeners", OldPID: t.OldPID(), Listeners: t.Listeners(), Config: t.Config().Source})
	return &takeover{t: t, status: status, log: log}, nil
}

// fail reports why this process cannot take over; the old one keeps serving.
func (k *takeover) fail(err error) {
	if k == nil {
		return
	}
	k.t.Fail(err)
	k.status.Send(upgrade.Event{Event: "error", OldPID: k.t.OldPID(), Error: err.Error()})
	k.status.Close()
}

func (k *takeover) closeUnused() {
	if k != nil {
		k.t.CloseUnused()
	}
}

// run completes the upgrade once this process serves: ready, then receive
// connections until the old process is done.
func (k *takeover) run(srv *server.Server) {
	if k == nil {
		return
	}
	defer k.status.Close()
	old := k.t.OldPID()
	if err := k.t.Ready(); err != nil {
		k.log.Warn("upgrade: old process gone before handover; serving anyway", "err", err)
		k.status.Send(upgrade.Event{Event: "error", OldPID: old, Serving: true, Error: err.Error()})
		return
	}
	k.status.Send(upgrade.Event{Event: "ready", OldPID: old, Listeners: k.t.Listeners()})
	res := k.t.Migrate(srv, func(n int) {
		k.status.Send(upgrade.Event{Event: "migrating", OldPID: old, Received: n})
	})
	if res.Err != nil {
		k.log.Error("upgrade: handover incomplete", "err", res.Err)
		k.status.Send(upgrade.Event{Event: "error", OldPID: old, Serving: true, Result: &res, Error: res.Err.Error()})
		return
	}
	k.log.Info("upgrade: handover complete", "old_pid", old, "migrated", res.Migrated, "refused", res.Refused,
		"finished_in_old", res.Finished, "cut", res.Cut, "old_exited", res.OldExited)
	k.status.Send(upgrade.Event{Event: "done", OldPID: old, Result: &res})
}

// listenUpgrade opens this process's upgrade socket; nil when disabled or
// when it cannot (logged: serving goes on without hot upgrade).
func listenUpgrade(path string, srv *server.Server, raw upgrade.Config, log *slog.Logger) *upgrade.Source {
	if path == "off" {
		return nil
	}
	if path == "" {
		path = upgrade.DefaultSocketPath(os.Getpid(), os.Getenv)
	}
	src, err := upgrade.Listen(path, srv, raw, log)
	if err != nil {
		log.Warn("hot upgrade unavailable", "err", err)
		return nil
	}
	log.Info("upgrade socket listening", "path", path)
	return src
}

// upgradeSockets opens this process's upgrade socket beside serving and
// makes sure that, once serving stops, none is left open (its file stays
// behind when the process exits with it open).
type upgradeSockets struct {
	mu      sync.Mutex
	stopped bool
	ch      chan *upgrade.Source // one at a time: Run takes it before the next open
}

func (u *upgradeSockets) open(ctx context.Context, path string, srv *server.Server, raw upgrade.Config, log *slog.Logger) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return
	}
	if src := listenUpgrade(path, srv, raw, log); src != nil {
		go src.Serve(ctx)
		u.ch <- src
	}
}

// stop closes current and any socket opened but not yet taken; no socket
// opens afterwards.
func (u *upgradeSockets) stop(current *upgrade.Source) {
	u.mu.Lock()
	u.stopped = true
	u.mu.Unlock()
	select {
	case src := <-u.ch:
		src.Close()
	default:
	}
	if current != nil {
		current.Close()
	}
}
