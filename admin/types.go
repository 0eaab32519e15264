package admin

// Responses of the API, as JSON.
type (
	// RoomResponse answers GET /v1/admin/apps/{app}/rooms/{room}.
	RoomResponse struct {
		Room
		Coverage
	}
	// RoomsResponse answers GET /v1/admin/rooms and
	// /v1/admin/apps/{app}/rooms.
	RoomsResponse struct {
		Rooms []Room `json:"rooms"`
		// Truncated: there are more rooms than the limit (?limit=, 1000
		// by default, at most 10000); the first ones by app and room
		// are listed.
		Truncated bool `json:"truncated"`
		Coverage
	}
	// AppsResponse answers GET /v1/admin/apps.
	AppsResponse struct {
		Apps []App `json:"apps"`
		Coverage
	}
	// StatsResponse answers GET /v1/admin/stats.
	StatsResponse struct {
		Nodes  []Node `json:"nodes"`
		Totals Totals `json:"totals"`
		Coverage
	}
	// Removed answers the DELETEs: how many members were removed, and
	// why not all when Error is set.
	Removed struct {
		Removed int    `json:"removed"`
		Error   string `json:"error,omitempty"`
	}
)
