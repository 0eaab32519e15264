package push

import (
	"container/list"
	"sync"
	"time"
)

// maxDevices bounds the devices one subscriber has registered: a newer
// registration pushes the oldest out.
const maxDevices = 10

// Device is one registered device of a subscriber.
type Device struct {
	Type  string    `json:"type"`  // fcm or apn
	Token string    `json:"token"` // the FCM registration token or APNs device token
	At    time.Time `json:"at"`    // when it was (last) registered
}

// store keeps registrations in this node's memory, at most max devices
// in all: past it, the subscriber registered longest ago loses its
// devices. A node that restarts forgets them; the SDKs register on every
// connect.
type store struct {
	mu    sync.Mutex
	max   int
	n     int
	subs  map[subKey]*list.Element // of *subEntry, most recently registered at the front
	order *list.List
}

type subKey struct{ app, id string }

type subEntry struct {
	k       subKey
	devices []Device
}

func newStore(max int) *store {
	return &store{max: max, subs: map[subKey]*list.Element{}, order: list.New()}
}

// put registers d for subscriber k; the same token registered again only
// moves to the front.
func (s *store) put(k subKey, d Device) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.subs[k]
	if el == nil {
		el = s.order.PushFront(&subEntry{k: k})
		s.subs[k] = el
	} else {
		s.order.MoveToFront(el)
	}
	e := el.Value.(*subEntry)
	for i, have := range e.devices {
		if have.Token == d.Token {
			e.devices = append(e.devices[:i], e.devices[i+1:]...)
			s.n--
			break
		}
	}
	if len(e.devices) >= maxDevices {
		e.devices = e.devices[1:]
		s.n--
	}
	e.devices = append(e.devices, d)
	s.n++
	for s.n > s.max && s.order.Len() > 1 {
		old := s.order.Back()
		oe := old.Value.(*subEntry)
		s.n -= len(oe.devices)
		s.order.Remove(old)
		delete(s.subs, oe.k)
	}
}

// get returns subscriber k's devices.
func (s *store) get(k subKey) []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el := s.subs[k]; el != nil {
		return append([]Device(nil), el.Value.(*subEntry).devices...)
	}
	return nil
}

// forget removes a device that its service said is no longer valid.
func (s *store) forget(k subKey, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := s.subs[k]
	if el == nil {
		return false
	}
	e := el.Value.(*subEntry)
	for i, d := range e.devices {
		if d.Token == token {
			e.devices = append(e.devices[:i], e.devices[i+1:]...)
			s.n--
			if len(e.devices) == 0 {
				s.order.Remove(el)
				delete(s.subs, k)
			}
			return true
		}
	}
	return false
}

// len is the number of devices registered.
func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
