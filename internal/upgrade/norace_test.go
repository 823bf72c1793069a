//go:build !race

package upgrade

const raceBuild = false
