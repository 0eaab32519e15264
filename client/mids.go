package client

import "strconv"

// The polite side names the m-lines it adds itself: "p0", "p1", …
//
// pion gives a transceiver its mid for good when it makes an offer, and
// the polite side cannot roll an offer back (negotiate.go), so a
// transceiver offered in a glare keeps the mid of an offer that was given
// up. Had pion numbered it, the partner's winning offer (pion and the
// browsers number theirs too) could use the same number for another
// m-line, even of another kind, and pion would match the two by mid. No
// offerer numbers with this prefix: a given-up m-line matches nothing in
// the partner's offer, and is offered again, on its own, once that offer
// is answered. (A transceiver added while the offer is being made still
// gets pion's number; the window is one CreateOffer.)
const politeMid = "p"

// nameNewMids gives every transceiver that has no mid yet one of the
// polite side's own.
func (s *Session) nameNewMids() error {
	trs := s.pc.GetTransceivers()
	used := make(map[string]bool, len(trs))
	for _, t := range trs {
		used[t.Mid()] = true
	}
	for _, t := range trs {
		if t.Mid() != "" {
			continue
		}
		for used[politeMid+strconv.Itoa(s.nextMid)] {
			s.nextMid++
		}
		mid := politeMid + strconv.Itoa(s.nextMid)
		if err := t.SetMid(mid); err != nil {
			return err
		}
		used[mid] = true
	}
	return nil
}
