// Package xds makes mosnctl an xDS client: it speaks state-of-the-world
// Aggregated Discovery Service (ADS) over gRPC to a control plane (istiod,
// go-control-plane), translates the Envoy v3 resources it receives into
// internal/config's model, validates them exactly as a config file is
// validated, and hands each accepted config to Options.Apply (the
// server's in-place reload). Anything the data plane cannot honour is NACKed with
// the resource and field it is about.
//
// It imports internal/config and internal/buildinfo only; the server is
// reached through Options.Apply (Server.Reload), so the data path never
// imports this package. xdstest runs a go-control-plane server for tests.
package xds
