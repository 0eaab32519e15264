package room

import (
	"slices"
	"testing"
)

type step struct {
	op       string // join, leave, drop (socket closed), relay, replace (who by with)
	who      string
	with     string
	wantRepl bool
	wantRes  JoinResult
	wantActs []Action[string]
	wantOK   bool // relay
	wantTo   string
	members  []string
}

func TestTransitions(t *testing.T) {
	a := func(k Kind, to string) Action[string] { return Action[string]{k, to} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"first join waits", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}, members: []string{"A"}},
		}},
		{"second join pairs and starts the waiter after the joiner's joined", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}, members: []string{"A", "B"}},
		}},
		{"third join is refused and changes nothing", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "join", who: "C", wantRes: Full, members: []string{"A", "B"}},
		}},
		{"double join is idempotent", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}, members: []string{"A"}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B")}, members: []string{"A", "B"}},
		}},
		{"restart by a paired member: stop to the partner, joined, then the partner starts", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "restart", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Stop, "B"), a(Joined, "A"), a(Start, "B")}, members: []string{"B", "A"}},
			{op: "restart", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Stop, "B"), a(Joined, "A"), a(Start, "B")}, members: []string{"B", "A"}},
			{op: "restart", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Stop, "A"), a(Joined, "B"), a(Start, "A")}, members: []string{"A", "B"}},
			{op: "relay", who: "B", wantOK: true, wantTo: "A"},
		}},
		{"restart while waiting alone, or by a newcomer, is a join", []step{
			{op: "restart", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}, members: []string{"A"}},
			{op: "restart", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}, members: []string{"A"}},
			{op: "restart", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}, members: []string{"A", "B"}},
			{op: "restart", who: "C", wantRes: Full, members: []string{"A", "B"}},
		}},
		{"offerer leaves: leaved to it, stop to partner, next join starts the partner", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "leave", who: "A", wantActs: []Action[string]{a(Leaved, "A"), a(Stop, "B")}, members: []string{"B"}},
			{op: "join", who: "C", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "C"), a(Start, "B")}, members: []string{"B", "C"}},
		}},
		{"answerer leaves: offerer stays the waiter", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "leave", who: "B", wantActs: []Action[string]{a(Leaved, "B"), a(Stop, "A")}, members: []string{"A"}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
		}},
		{"socket close is a leave without leaved", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "drop", who: "B", wantActs: []Action[string]{a(Stop, "A")}, members: []string{"A"}},
		}},
		{"last member leaves: room empty", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "leave", who: "A", wantActs: []Action[string]{a(Leaved, "A")}, members: []string{}},
		}},
		{"leave of a room one is not in answers leaved and changes nothing", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "leave", who: "X", wantActs: []Action[string]{a(Leaved, "X")}, members: []string{"A"}},
			{op: "drop", who: "X", members: []string{"A"}},
		}},
		{"relay only inside a full room and only from a member", []step{
			{op: "relay", who: "A", wantOK: false},
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "relay", who: "A", wantOK: false},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "relay", who: "A", wantOK: true, wantTo: "B"},
			{op: "relay", who: "B", wantOK: true, wantTo: "A"},
			{op: "relay", who: "C", wantOK: false},
		}},
		{"replace keeps the seat's place and sends nothing", []step{
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "replace", who: "A", with: "A2", wantRepl: true, members: []string{"A2", "B"}},
			{op: "relay", who: "B", wantOK: true, wantTo: "A2"},
			{op: "relay", who: "A", wantOK: false},
			{op: "replace", who: "B", with: "B2", wantRepl: true, members: []string{"A2", "B2"}},
			{op: "drop", who: "A2", wantActs: []Action[string]{a(Stop, "B2")}, members: []string{"B2"}},
			{op: "join", who: "C", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "C"), a(Start, "B2")}},
		}},
		{"replace of a non-member or by a member changes nothing", []step{
			{op: "replace", who: "A", with: "A2", wantRepl: false, members: []string{}},
			{op: "join", who: "A", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "A")}},
			{op: "join", who: "B", wantRes: Admitted, wantActs: []Action[string]{a(Joined, "B"), a(Start, "A")}},
			{op: "replace", who: "X", with: "Y", wantRepl: false, members: []string{"A", "B"}},
			{op: "replace", who: "A", with: "B", wantRepl: false, members: []string{"A", "B"}},
			{op: "replace", who: "A", with: "A", wantRepl: false, members: []string{"A", "B"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Room[string]
			for i, s := range tt.steps {
				var acts []Action[string]
				switch s.op {
				case "join":
					var res JoinResult
					res, acts = r.Join(s.who)
					if res != s.wantRes {
						t.Fatalf("step %d: join %s = %v, want %v", i, s.who, res, s.wantRes)
					}
				case "restart":
					var res JoinResult
					res, acts = r.Restart(s.who)
					if res != s.wantRes {
						t.Fatalf("step %d: restart %s = %v, want %v", i, s.who, res, s.wantRes)
					}
				case "leave":
					acts = r.Leave(s.who, true)
				case "drop":
					acts = r.Leave(s.who, false)
				case "replace":
					if got := r.Replace(s.who, s.with); got != s.wantRepl {
						t.Fatalf("step %d: replace %s by %s = %v, want %v", i, s.who, s.with, got, s.wantRepl)
					}
				case "relay":
					to, ok := r.Partner(s.who)
					if ok != s.wantOK || to != s.wantTo {
						t.Fatalf("step %d: partner of %s = %q,%v want %q,%v", i, s.who, to, ok, s.wantTo, s.wantOK)
					}
				}
				if s.op != "relay" && s.op != "replace" && !slices.Equal(acts, s.wantActs) {
					t.Fatalf("step %d: %s %s actions = %v, want %v", i, s.op, s.who, acts, s.wantActs)
				}
				if s.members != nil && !slices.Equal(r.Members(), s.members) {
					t.Fatalf("step %d: members = %v, want %v", i, r.Members(), s.members)
				}
			}
		})
	}
}

// FuzzRoom runs random sequences of joins, restarts, leaves and drops by
// four peers and checks the invariants after every step.
func FuzzRoom(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0x10, 0x21, 3, 0x31})
	f.Add([]byte{0, 0, 1, 1, 2, 0x20, 0x11, 0x02})
	f.Add([]byte{0, 1, 0x08, 0x09, 0x0a, 0x10, 0x09})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var r Room[int]
		present := map[int]bool{}
		for _, op := range ops {
			who, kind := int(op&3), (op>>4)%4
			switch kind {
			case 3:
				// Replace peer who (0-7) by its twin who^4: a member moving to
				// a new socket and, later, back.
				who = int(op & 7)
				n := who ^ 4
				if present[n] {
					n = who
				}
				if ok := r.Replace(who, n); ok != (present[who] && !present[n]) {
					t.Fatalf("replace %d by %d = %v, present=%v", who, n, ok, present)
				} else if ok {
					delete(present, who)
					present[n] = true
				}
				who = n
			case 0:
				if op&8 != 0 {
					restart(t, &r, who, present)
					break
				}
				res, acts := r.Join(who)
				switch {
				case present[who]:
					if res != Admitted || len(acts) != 1 || acts[0] != (Action[int]{Joined, who}) {
						t.Fatalf("rejoin by member %d: %v %v", who, res, acts)
					}
				case len(present) == 2:
					if res != Full || acts != nil {
						t.Fatalf("join into full room: %v %v", res, acts)
					}
				default:
					present[who] = true
					if res != Admitted || acts[0] != (Action[int]{Joined, who}) {
						t.Fatalf("join %d: %v %v", who, res, acts)
					}
					if len(present) == 2 && (len(acts) != 2 || acts[1].Kind != Start || acts[1].To == who) {
						t.Fatalf("pairing join must start the other member: %v", acts)
					}
				}
			case 1, 2:
				was := present[who]
				acts := r.Leave(who, kind == 1)
				delete(present, who)
				for _, a := range acts {
					if a.Kind == Stop && (!was || !present[a.To]) {
						t.Fatalf("stop sent to %d, present=%v", a.To, present)
					}
					if a.Kind == Leaved && (kind != 1 || a.To != who) {
						t.Fatalf("leaved to %d on kind %d", a.To, kind)
					}
				}
				if was && len(present) == 1 && len(acts) == 0 {
					t.Fatal("partner not told to stop")
				}
			}
			if r.Len() != len(present) || r.Len() > 2 {
				t.Fatalf("len %d, want %d", r.Len(), len(present))
			}
			for _, m := range r.Members() {
				if !present[m] {
					t.Fatalf("member %d not present", m)
				}
			}
			if _, ok := r.Partner(who); ok != (len(present) == 2 && present[who]) {
				t.Fatalf("partner(%d) ok=%v with %v", who, ok, present)
			}
		}
	})
}

// restart runs r.Restart(who) inside FuzzRoom: a paired member's call
// starts over, with its partner as the offerer; anything else is a join.
func restart(t *testing.T, r *Room[int], who int, present map[int]bool) {
	t.Helper()
	partner, paired := r.Partner(who)
	res, acts := r.Restart(who)
	switch {
	case paired:
		want := []Action[int]{{Stop, partner}, {Joined, who}, {Start, partner}}
		if res != Admitted || !slices.Equal(acts, want) || !slices.Equal(r.Members(), []int{partner, who}) {
			t.Fatalf("restart by %d paired with %d: %v %v, members %v", who, partner, res, acts, r.Members())
		}
	case present[who]:
		if res != Admitted || !slices.Equal(acts, []Action[int]{{Joined, who}}) {
			t.Fatalf("restart by lone member %d: %v %v", who, res, acts)
		}
	case len(present) == 2:
		if res != Full || acts != nil {
			t.Fatalf("restart into full room: %v %v", res, acts)
		}
	default:
		present[who] = true
		if res != Admitted || acts[0] != (Action[int]{Joined, who}) {
			t.Fatalf("restart as a join by %d: %v %v", who, res, acts)
		}
	}
}
