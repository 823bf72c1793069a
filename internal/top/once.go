package top

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// WriteJSON prints one snapshot for scripts.
func WriteJSON(w io.Writer, s *Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteTables prints one snapshot as the screens' tables, one after the
// other, width cells wide, without colour. Rates need two polls, so a
// single snapshot shows the admin API's own rates where it has them.
func WriteTables(w io.Writer, s *Snapshot, width int) error {
	m := New(Config{Admin: s.Admin, Renderer: ASCIIRenderer()})
	m.width, m.height = width, 1<<20
	m.noCursor = true
	m.applySnapshot(s)
	var b strings.Builder
	for t := Tab(0); t < numTabs; t++ {
		m.tab = t
		fmt.Fprintf(&b, "== %s\n", t)
		for _, l := range m.body(width) {
			if t == TabOverview && strings.TrimSpace(l) == "" {
				continue
			}
			b.WriteString(strings.TrimRight(l, " ") + "\n")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ASCIIRenderer is a lipgloss renderer without colours or attributes: for
// plain output and for golden tests.
func ASCIIRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}
