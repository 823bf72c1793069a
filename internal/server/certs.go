package server

import (
	"github.com/mosnctl/mosnctl/internal/admin"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
)

// watchCerts points the certificate watcher at the files of the running
// listeners and clusters (started at the first TLS file, stopped with the
// server). A change reloads the certificates of what uses the file; new
// connections get them, open ones keep theirs.
func (s *Server) watchCerts() {
	var targets []mosntls.WatchTarget
	for _, rl := range s.listeners() {
		if rl.tls != nil {
			targets = append(targets, mosntls.WatchTarget{Name: "listener " + rl.cfg.Name,
				Files: rl.tlsState.Files(), Reload: rl.tls.ReloadFiles})
		}
	}
	for _, c := range s.clusters.load().Clusters() {
		if c.TLS != nil {
			targets = append(targets, mosntls.WatchTarget{Name: "cluster " + c.Name, Files: c.TLS.Files(), Reload: c.TLS.ReloadFiles})
		}
	}
	files := 0
	for _, t := range targets {
		files += len(t.Files)
	}
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if s.certWatch == nil {
		if files == 0 {
			return
		}
		w, err := mosntls.NewWatcher(s.log)
		if err != nil {
			s.log.Warn("cannot watch certificate files; rotation needs a reload (SIGHUP)", "err", err)
			return
		}
		s.certWatch = w
	}
	s.certWatch.Set(targets)
}

// reloadClusterCerts reads again the certificate files of clusters a
// reload kept (their config did not change, their files may have): a
// file that does not load keeps the old certificate, with a log line.
func (s *Server) reloadClusterCerts() {
	for _, c := range s.clusters.load().Clusters() {
		if c.TLS == nil {
			continue
		}
		if changed, err := c.TLS.ReloadFiles(); err != nil {
			s.log.Error("cluster certificate files do not load; the old certificates stay", "cluster", c.Name, "err", err)
		} else if changed {
			s.log.Info("cluster certificates reloaded", "cluster", c.Name)
		}
	}
}

// Certs lists every certificate in use, for /api/v1/certs and the expiry
// gauge.
func (s *Server) Certs() []admin.CertInfo {
	var all []mosntls.CertInfo
	for _, rl := range s.listeners() {
		if rl.tls != nil {
			all = append(all, rl.tls.Certs()...)
		}
	}
	for _, c := range s.clusters.load().Clusters() {
		if c.TLS != nil {
			all = append(all, c.TLS.Certs()...)
		}
	}
	out := make([]admin.CertInfo, len(all))
	for i, c := range all {
		out[i] = admin.CertInfo{Owner: c.Owner, Names: c.Names, Subject: c.Subject, Issuer: c.Issuer,
			Serial: c.Serial, NotAfter: c.NotAfter, Source: c.Source}
	}
	return out
}

func (s *Server) stopCertWatch() {
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if s.certWatch != nil {
		s.certWatch.Close()
		s.certWatch = nil
	}
}
