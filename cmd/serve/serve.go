// Package serve implements `mosnctl serve`: load and validate a config (or
// the embedded default), run the proxy, drain on SIGINT/SIGTERM.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/upgrade"
)

// Options are the flags of `mosnctl serve`.
type Options struct {
	ConfigPath   string
	Check        bool
	AdminAddress string
	LogLevel     string
	DrainTimeout time.Duration
	// ServiceNode and ServiceCluster set the xDS node id and cluster
	// (Envoy's and MOSN's --service-node, --service-cluster).
	ServiceNode    string
	ServiceCluster string
	// Ready, when set, is called once the proxy serves (tests use it).
	Ready func(*server.Server)

	// UpgradeSocket is where this process listens for `mosnctl upgrade`
	// ("" derives it from the pid; "off" disables hot upgrade).
	UpgradeSocket string
	// UpgradeFrom, set by `mosnctl upgrade`, is the old process's upgrade
	// socket: take its listeners (and config, without ConfigPath) and
	// its connections. UpgradeStatusFD is the inherited progress pipe.
	UpgradeFrom     string
	UpgradeStatusFD int
}

// NewCommand builds the serve command. Flags can also come from MOSNCTL_*
// environment variables (MOSNCTL_CONFIG, MOSNCTL_ADMIN_ADDRESS, ...).
func NewCommand() *cobra.Command {
	v := viper.New()
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the proxy (embedded default config when -c is not given)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts := Options{
				ConfigPath:   v.GetString("config"),
				Check:        v.GetBool("check"),
				AdminAddress: v.GetString("admin-address"),
				LogLevel:     v.GetString("log-level"),
				DrainTimeout: v.GetDuration("drain-timeout"),

				ServiceNode:    v.GetString("service-node"),
				ServiceCluster: v.GetString("service-cluster"),

				UpgradeSocket:   v.GetString("upgrade-socket"),
				UpgradeFrom:     v.GetString("upgrade-from"),
				UpgradeStatusFD: v.GetInt("upgrade-status-fd"),
			}
			return Run(c.Context(), opts, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	f := c.Flags()
	f.StringP("config", "c", "", "config file (MOSN v2 JSON or YAML); the embedded default when empty")
	f.Bool("check", false, "validate the config and exit (0 valid, 2 invalid)")
	f.String("admin-address", "", "admin API address, overriding the config (\"off\" disables it)")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	f.Duration("drain-timeout", 0, "how long in-flight requests may run after SIGTERM (default: config's drain_timeout or 30s)")
	f.String("service-node", "", "xDS node id (overrides the config's node.id), e.g. sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local")
	f.String("service-cluster", "", "xDS node cluster (overrides the config's node.cluster)")
	f.String("upgrade-socket", "", "unix socket that mosnctl upgrade connects to (default $XDG_RUNTIME_DIR or $TMPDIR/mosnctl-<pid>.upgrade.sock; \"off\" disables hot upgrade)")
	f.String("upgrade-from", "", "set by mosnctl upgrade: take over from the process listening on this upgrade socket")
	f.Int("upgrade-status-fd", 0, "set by mosnctl upgrade: descriptor to report upgrade progress on")
	f.MarkHidden("upgrade-from")
	f.MarkHidden("upgrade-status-fd")
	v.BindPFlags(f)
	v.SetEnvPrefix("MOSNCTL")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	return c
}

// Run loads the config and serves until ctx is cancelled.
func Run(ctx context.Context, opts Options, out, errOut io.Writer) error {
	level := new(slog.LevelVar)
	if err := level.UnmarshalText([]byte(opts.LogLevel)); err != nil && opts.LogLevel != "" {
		return cli.Usagef("--log-level: unknown level %q (want debug, info, warn or error)", opts.LogLevel)
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))

	var takeover *takeover
	if opts.UpgradeFrom != "" {
		var err error
		if takeover, err = connectOld(ctx, opts, log); err != nil {
			return err
		}
	}
	cfg, raw, err := loadFor(opts.ConfigPath, takeover, log)
	if err != nil {
		takeover.fail(err)
		return err
	}
	if opts.DrainTimeout > 0 {
		cfg.DrainTimeout = &config.Duration{Duration: opts.DrainTimeout}
	}
	dyn, err := newDynamic(cfg, opts, log)
	if err != nil {
		takeover.fail(err)
		return err
	}
	if dyn != nil {
		cfg = dyn.boot.Base
	}
	if opts.Check {
		fmt.Fprintf(out, "%s: ok\n", raw.Source)
		return nil
	}
	sopts := server.Options{Logger: log, LogLevel: level, AdminAddr: opts.AdminAddress}
	dyn.serverOptions(&sopts)
	if takeover != nil {
		sopts.Inherit = takeover.t.Inherit
	}
	srv, err := server.New(cfg, sopts)
	if err != nil {
		takeover.fail(err)
		return cli.Failed(err)
	}
	takeover.closeUnused()
	srv.SetConfigSource(reloadSource(opts, log), raw)
	hup := make(chan os.Signal, 1) // SIGHUP reloads the config (before Ready: a test may send it then)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	srv.Start(ctx)
	log.Info("mosnctl serving", "config", raw.Source, "pid", os.Getpid())
	stopDynamic := dyn.run(ctx, srv)
	defer stopDynamic()
	if opts.Ready != nil {
		opts.Ready(srv)
	}
	// Taking over (when upgrading) runs beside serving; this process's own
	// upgrade socket opens once it is complete.
	sockets := &upgradeSockets{ch: make(chan *upgrade.Source, 1)}
	first := srv
	go func() {
		takeover.run(first)
		sockets.open(ctx, opts.UpgradeSocket, first, raw, log)
	}()
	var src *upgrade.Source
	var takenOver <-chan struct{}
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading the config")
			srv.ReloadConfig() // logs the outcome
			continue
		case src = <-sockets.ch:
			takenOver = src.TakenOver()
			continue
		case <-takenOver:
			dctx, cancel := context.WithTimeout(context.Background(), srv.DrainTimeout())
			var again *server.Server
			_, resumed := src.Handover(dctx, func(inherit func(name, network, address string) net.Listener) error {
				o := sopts
				o.Inherit = inherit
				s, err := server.New(cfg, o)
				if err == nil {
					s.SetConfigSource(reloadSource(opts, log), raw)
				}
				if err != nil {
					return err
				}
				s.Start(ctx)
				again = s
				return nil
			})
			cancel()
			if !resumed {
				log.Info("stopped: upgraded")
				return nil
			}
			// The new process died during the handover: serve on, and
			// accept the next upgrade.
			srv, src, takenOver = again, nil, nil
			dyn.setServer(again)
			log.Info("mosnctl serving again", "config", raw.Source, "pid", os.Getpid())
			go sockets.open(ctx, opts.UpgradeSocket, again, raw, log)
			continue
		case <-ctx.Done():
		}
		break
	}
	sockets.stop(src)
	drain := srv.DrainTimeout()
	log.Info("shutting down: draining in-flight requests", "timeout", drain)
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if cut := srv.Shutdown(dctx); cut > 0 {
		log.Warn("drain timeout reached, connections closed", "count", cut)
	}
	log.Info("stopped")
	return nil
}

// loadFor reads the config: the file when one is given, else the old
// process's config when taking over from one, else the embedded default. A
// bad config is a usage error (exit 2) naming the field.
func loadFor(path string, t *takeover, log *slog.Logger) (*config.Config, upgrade.Config, error) {
	raw := upgrade.Config{Data: config.DefaultJSON(), Format: "json", Source: "embedded default config"}
	switch {
	case path != "":
		data, err := config.ReadFile(path)
		if err != nil {
			return nil, raw, cli.Usage(fmt.Errorf("config %s: %w", path, err))
		}
		raw = upgrade.Config{Data: data, Format: formatOf(path), Source: path}
	case t != nil:
		raw = t.t.Config()
	default:
		return config.Default(), raw, nil
	}
	cfg, warnings, err := config.Parse(raw.Data, raw.Format)
	if err != nil {
		return nil, raw, cli.Usage(fmt.Errorf("config %s: %w", raw.Source, err))
	}
	for _, w := range warnings {
		log.Warn(w, "config", raw.Source)
	}
	return cfg, raw, nil
}

// reloadSource reads the config file again for a reload (SIGHUP or the
// admin API); without one the embedded default stays.
func reloadSource(opts Options, log *slog.Logger) server.ConfigSource {
	return func() (*config.Config, any, error) {
		cfg, raw, err := loadFor(opts.ConfigPath, nil, log)
		if err != nil {
			return nil, nil, err
		}
		if cfg.XDS() {
			// The running config is the file plus what the control plane
			// pushed: the file alone would drop every pushed resource.
			return nil, nil, errors.New("config reload: not with dynamic_resources (xDS): restart, or mosnctl upgrade, to change the bootstrap")
		}
		if opts.DrainTimeout > 0 {
			cfg.DrainTimeout = &config.Duration{Duration: opts.DrainTimeout}
		}
		return cfg, raw, nil
	}
}

// formatOf tells the config format by extension, as config.Load does.
func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return "yaml"
	case ".json":
		return "json"
	}
	return ""
}
