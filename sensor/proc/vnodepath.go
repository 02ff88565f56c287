package proc

import (
	"bytes"
	"fmt"
)

// struct proc_vnodepathinfo, what proc_pidinfo(pid, PROC_PIDVNODEPATHINFO)
// copies out (bsd/sys/proc_info.h, filled by proc_pidvnodepathinfo in
// bsd/kern/proc_info.c). Natural alignment (the header has no pragma pack),
// the same on arm64 and x86_64:
//
//	struct vinfo_stat        136 bytes: dev u32, mode u16, nlink u16, ino u64,
//	                         uid, gid u32, 8 × i64 times, size, blocks i64,
//	                         blksize i32, flags, gen, rdev u32, qspare[2] i64
//	struct vnode_info        vinfo_stat, vi_type i32 @136, vi_pad i32 @140,
//	                         vi_fsid (2 × i32) @144: 152 bytes
//	struct vnode_info_path   vnode_info, vip_path[MAXPATHLEN=1024] @152: 1176
//	struct proc_vnodepathinfo pvi_cdir @0, pvi_rdir @1176: 2352 bytes
//
// The kernel zeroes the struct, writes each path with vn_getpath and puts a
// NUL in its last byte; a process without a current directory (kernel_task)
// leaves it all zero.
const (
	vinfoStatSize        = 136
	vnodeInfoSize        = vinfoStatSize + 16
	maxPathLen           = 1024
	vnodeInfoPathSize    = vnodeInfoSize + maxPathLen
	offCdirPath          = vnodeInfoSize
	offRdirPath          = vnodeInfoPathSize + vnodeInfoSize
	offCdirType          = vinfoStatSize // vi_type of pvi_cdir
	vnodePathInfoSize    = 2 * vnodeInfoPathSize
	vnodeTypeDir         = 2 // VDIR in enum vtype (bsd/sys/vnode.h)
	procPIDVnodePathInfo = 9 // PROC_PIDVNODEPATHINFO
)

// ParseVnodePathInfo returns the working directory (pvi_cdir's path) and the
// root directory (pvi_rdir's, "" unless the process is chrooted) from a
// struct proc_vnodepathinfo of n bytes (proc_pidinfo's return value). The
// paths end at their first NUL; a path without one is an error, as is a
// size other than the struct's.
func ParseVnodePathInfo(buf []byte, n int) (cwd, root string, err error) {
	if n != vnodePathInfoSize || len(buf) < n {
		return "", "", fmt.Errorf("proc: proc_vnodepathinfo of %d bytes (buffer %d), want %d", n, len(buf), vnodePathInfoSize)
	}
	path := func(off int, what string) (string, error) {
		b := buf[off : off+maxPathLen]
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return "", fmt.Errorf("proc: proc_vnodepathinfo: %s path at offset %d has no NUL in %d bytes", what, off, maxPathLen)
		}
		return string(b[:i]), nil
	}
	if cwd, err = path(offCdirPath, "pvi_cdir"); err != nil {
		return "", "", err
	}
	if root, err = path(offRdirPath, "pvi_rdir"); err != nil {
		return "", "", err
	}
	return cwd, root, nil
}
