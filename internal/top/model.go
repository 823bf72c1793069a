package top

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Tab is one screen of the model.
type Tab int

// The tabs, in the order tab cycles through them.
const (
	TabOverview Tab = iota
	TabListeners
	TabClusters
	TabStreams
	numTabs
)

var tabNames = [numTabs]string{"Overview", "Listeners", "Clusters", "Streams"}

func (t Tab) String() string { return tabNames[t] }

// sort keys per tab; `s` cycles through them.
var sortKeys = [numTabs][]string{
	TabOverview:  nil,
	TabListeners: {"name", "req/s", "conns"},
	TabClusters:  {"name", "rps", "errors"},
	TabStreams:   {"age", "bytes"},
}

// FetchFunc takes one snapshot; the model calls it from a tea.Cmd, never
// from Update.
type FetchFunc func(ctx context.Context, q StreamsQuery) (*Snapshot, error)

// Config sets up a Model.
type Config struct {
	Admin    string        // shown in the title and in errors
	Interval time.Duration // between polls; default 1s
	Fetch    FetchFunc
	// Renderer styles the output; nil: lipgloss's default (the terminal's
	// colour profile). Tests pass an ASCII renderer for stable goldens.
	Renderer *lipgloss.Renderer
	// Now stamps the messages the model's commands produce; nil: time.Now.
	// Update and View read time only from messages.
	Now func() time.Time
	// StreamLimit caps the streams asked for per poll; default 500.
	StreamLimit int
}

// snapshotMsg is the result of one poll.
type snapshotMsg struct {
	snap *Snapshot
	err  error
	at   time.Time
}

// tickMsg asks for the next poll. Only the tick of the latest schedule
// counts: a poll made early (a sort change, the end of a pause) schedules
// a new one, and the older tick must not start a second polling loop.
type tickMsg struct {
	at  time.Time
	seq int
}

// Model is the whole top screen. Update is pure on messages; View is pure
// on the model; polling happens in commands.
type Model struct {
	cfg    Config
	styles styles
	keys   keyMap
	help   help.Model

	width, height int
	tab           Tab
	now           time.Time

	snap, prev *Snapshot // the latest good poll and the one before
	hist       history
	// restartedAt is the proxy's clock at the first poll after it was seen
	// to restart (zero: not seen); noted for a minute.
	restartedAt time.Time

	err      error // the latest poll's failure; nil after a success
	errSince time.Time
	failures int
	polls    int // successful polls

	inflight bool
	tickSeq  int
	paused   bool
	showHelp bool
	noCursor bool // plain tables (--once): no selected row

	cursor [numTabs]int
	offset [numTabs]int
	sortBy [numTabs]int

	filter    [numTabs]string
	filtering bool
	input     []rune
}

// New builds the model.
func New(cfg Config) Model {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StreamLimit <= 0 {
		cfg.StreamLimit = 500
	}
	r := cfg.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	st := newStyles(r)
	h := help.New()
	h.Styles = help.Styles{Ellipsis: st.dim, ShortKey: st.key, ShortDesc: st.dim, ShortSeparator: st.dim,
		FullKey: st.key, FullDesc: st.plain, FullSeparator: st.dim}
	return Model{cfg: cfg, styles: st, keys: newKeyMap(), help: h, width: 80, height: 24}
}

// Init starts the first poll.
func (m Model) Init() tea.Cmd { return m.fetchCmd() }

func (m Model) streamsQuery() StreamsQuery {
	return StreamsQuery{Limit: m.cfg.StreamLimit, Sort: sortKeys[TabStreams][m.sortBy[TabStreams]]}
}

// fetchCmd polls once, bounded by the interval (at least a second) so a
// hung admin API shows up as an error, not as a frozen screen.
func (m Model) fetchCmd() tea.Cmd {
	fetch, now, q := m.cfg.Fetch, m.cfg.Now, m.streamsQuery()
	timeout := max(m.cfg.Interval, time.Second)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		s, err := fetch(ctx, q)
		return snapshotMsg{snap: s, err: err, at: now()}
	}
}

// tickCmd schedules the next poll; it invalidates every earlier tick.
func (m *Model) tickCmd() tea.Cmd {
	m.tickSeq++
	seq := m.tickSeq
	return tea.Tick(m.cfg.Interval, func(t time.Time) tea.Msg { return tickMsg{at: t, seq: seq} })
}

// Update applies one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.clampCursor()
		return m, nil
	case snapshotMsg:
		m.inflight = false
		m.now = msg.at
		if m.paused {
			// The screen stays as it was; unpausing polls again.
			return m, nil
		}
		if msg.err != nil {
			if m.err == nil {
				m.errSince = msg.at
			}
			m.err = msg.err
			m.failures++
		} else {
			m.applySnapshot(msg.snap)
		}
		cmd := m.tickCmd()
		return m, cmd
	case tickMsg:
		m.now = msg.at
		if msg.seq != m.tickSeq || m.paused || m.inflight {
			return m, nil
		}
		m.inflight = true
		return m, m.fetchCmd()
	case tea.KeyMsg:
		return m.handleKey(msg)
	}
	return m, nil
}

// applySnapshot makes s the latest poll. A proxy whose uptime or request
// counter went backwards restarted: rates against the old process would be
// nonsense, so history starts over.
func (m *Model) applySnapshot(s *Snapshot) {
	m.err, m.failures, m.errSince = nil, 0, time.Time{}
	m.polls++
	if m.snap != nil && (s.Stats.UptimeSeconds < m.snap.Stats.UptimeSeconds ||
		s.Stats.RequestsTotal < m.snap.Stats.RequestsTotal) {
		m.restartedAt = s.Stats.Time
		m.snap = nil
		m.hist = history{}
	}
	m.prev, m.snap = m.snap, s
	m.hist.add(m.overviewPoint())
	m.clampCursor()
}

func (m Model) handleKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.filtering {
		switch msg.Type {
		case tea.KeyEnter:
			m.filter[m.tab] = string(m.input)
			m.filtering = false
			m.cursor[m.tab], m.offset[m.tab] = 0, 0
		case tea.KeyEsc:
			m.filtering = false // the filter in force before stays
		case tea.KeyCtrlC:
			return m, tea.Quit
		case tea.KeyBackspace:
			if len(m.input) > 0 {
				m.input = m.input[:len(m.input)-1]
			}
		case tea.KeyRunes, tea.KeySpace:
			m.input = append(m.input, msg.Runes...)
		}
		// Rows filter as the user types.
		m.cursor[m.tab], m.offset[m.tab] = 0, 0
		return m, nil
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
	case m.showHelp && msg.Type == tea.KeyEsc:
		m.showHelp = false
	case key.Matches(msg, k.Next):
		m.tab = (m.tab + 1) % numTabs
	case key.Matches(msg, k.Prev):
		m.tab = (m.tab + numTabs - 1) % numTabs
	case key.Matches(msg, k.Jump):
		m.tab = Tab(msg.Runes[0] - '1')
	case key.Matches(msg, k.Up):
		m.cursor[m.tab]--
	case key.Matches(msg, k.Down):
		m.cursor[m.tab]++
	case key.Matches(msg, k.PageUp):
		m.cursor[m.tab] -= m.tableHeight()
	case key.Matches(msg, k.PageDown):
		m.cursor[m.tab] += m.tableHeight()
	case key.Matches(msg, k.Home):
		m.cursor[m.tab] = 0
	case key.Matches(msg, k.End):
		m.cursor[m.tab] = 1 << 30
	case key.Matches(msg, k.Sort):
		if n := len(sortKeys[m.tab]); n > 0 {
			m.sortBy[m.tab] = (m.sortBy[m.tab] + 1) % n
			m.cursor[m.tab], m.offset[m.tab] = 0, 0
			if m.tab == TabStreams && !m.paused && !m.inflight {
				// The server picks which streams to send by this key: ask now.
				m.inflight = true
				return m, m.fetchCmd()
			}
		}
	case key.Matches(msg, k.Filter):
		if m.tab != TabOverview {
			m.filtering = true
			m.input = []rune(m.filter[m.tab])
		}
	case msg.Type == tea.KeyEsc:
		m.filter[m.tab] = ""
		m.cursor[m.tab], m.offset[m.tab] = 0, 0
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		if !m.paused && !m.inflight {
			m.inflight = true
			return m, m.fetchCmd()
		}
	}
	m.clampCursor()
	return m, nil
}

// clampCursor keeps the cursor on a row and the row in view.
func (m *Model) clampCursor() {
	t := m.tab
	n := len(m.rows(t))
	m.cursor[t] = max(0, min(m.cursor[t], n-1))
	h := m.tableHeight()
	if m.cursor[t] < m.offset[t] {
		m.offset[t] = m.cursor[t]
	}
	if h > 0 && m.cursor[t] >= m.offset[t]+h {
		m.offset[t] = m.cursor[t] - h + 1
	}
	m.offset[t] = max(0, min(m.offset[t], n-h))
}

// keyMap is the model's key bindings, also the source of its help.
type keyMap struct {
	Next, Prev, Jump, Up, Down, PageUp, PageDown, Home, End key.Binding
	Sort, Filter, Pause, Help, Quit                         key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Next:     key.NewBinding(key.WithKeys("tab", "right", "l"), key.WithHelp("tab", "next tab")),
		Prev:     key.NewBinding(key.WithKeys("shift+tab", "left", "h"), key.WithHelp("shift+tab", "previous tab")),
		Jump:     key.NewBinding(key.WithKeys("1", "2", "3", "4"), key.WithHelp("1-4", "go to tab")),
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", " "), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "first row")),
		End:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "last row")),
		Sort:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter (esc clears)")),
		Pause:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the status line's help.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Next, k.Sort, k.Filter, k.Pause, k.Help, k.Quit}
}

// FullHelp is the help screen.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Next, k.Prev, k.Jump, k.Up, k.Down, k.PageUp, k.PageDown},
		{k.Home, k.End, k.Sort, k.Filter, k.Pause, k.Help, k.Quit},
	}
}
