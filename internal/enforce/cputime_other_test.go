//go:build !unix

package enforce

import "time"

func processCPU() time.Duration { return 0 }
