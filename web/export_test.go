package web

// The demo page's helpers, for the external tests (package web_test),
// which can import what imports web (package ops).
var (
	OpenDemo     = openDemo
	WaitJS       = waitJS
	EvalBool     = evalJS[bool]
	EvalString   = evalJS[string]
	EvalFloat    = evalJS[float64]
	EvalAsyncStr = evalAsync[string]
)

// AMSMount serves a page with Ant Media's SDK (see amsMount).
var AMSMount = amsMount
