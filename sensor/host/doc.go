// Package host reads the identity of the machine the sensor runs on, as the
// ECS host.* fields Elastic Agent reports: host.id, host.hostname,
// host.name, host.architecture and host.os.*. Rules join sequences on
// host.id, so it must be stable across restarts and unique per machine.
//
// macOS: host.id is the IOPlatformUUID, read with the gethostuuid system
// call; the OS fields come from sysctl (kern.osproductversion,
// kern.osrelease, hw.machine). Linux: host.id is the systemd machine-id;
// the OS fields come from os-release and uname.
//
// The parsers (os-release, machine-id, UUID formatting, the macOS field
// builders) are untagged and tested on Linux with fixtures in testdata/.
// It is not an inventory: no addresses, no hardware, no users.
package host
