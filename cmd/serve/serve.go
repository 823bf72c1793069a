// Package serve implements `mosnctl serve`: load and validate a config (or
// the embedded default), run the proxy, drain on SIGINT/SIGTERM.
package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/server"
)

// Options are the flags of `mosnctl serve`.
type Options struct {
	ConfigPath   string
	Check        bool
	AdminAddress string
	LogLevel     string
	DrainTimeout time.Duration
	// Ready, when set, is called once the proxy serves (tests use it).
	Ready func(*server.Server)
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

	cfg, source, err := load(opts.ConfigPath, log)
	if err != nil {
		return err
	}
	if opts.DrainTimeout > 0 {
		cfg.DrainTimeout = &config.Duration{Duration: opts.DrainTimeout}
	}
	if opts.Check {
		fmt.Fprintf(out, "%s: ok\n", source)
		return nil
	}
	srv, err := server.New(cfg, server.Options{Logger: log, LogLevel: level, AdminAddr: opts.AdminAddress})
	if err != nil {
		return cli.Failed(err)
	}
	srv.Start(ctx)
	log.Info("mosnctl serving", "config", source, "pid", os.Getpid())
	if opts.Ready != nil {
		opts.Ready(srv)
	}
	<-ctx.Done()
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

// load reads the config file or the embedded default; a bad config is a
// usage error (exit 2) naming the field.
func load(path string, log *slog.Logger) (*config.Config, string, error) {
	if path == "" {
		return config.Default(), "embedded default config", nil
	}
	cfg, warnings, err := config.Load(path)
	if err != nil {
		return nil, path, cli.Usage(fmt.Errorf("config %s: %w", path, err))
	}
	for _, w := range warnings {
		log.Warn(w, "config", path)
	}
	return cfg, path, nil
}
