import base64, bz2, fnmatch, glob, grp, gzip, hashlib, io, json, lzma, os, pwd, shutil, stat, sys, tarfile, zipfile

# opsctl archive (community.general.archive): reads the sources and the
# archive (probe), or writes the archive and removes the sources (write).
c = json.loads(base64.b64decode(sys.argv[1]))
fmt = c["format"]


def expand(ps):
    out = []
    for p in ps:
        p = os.path.expanduser(p)
        if glob.has_magic(p):
            out.extend(sorted(glob.glob(p)))
        elif os.path.lexists(p):
            out.append(p)
    return [os.path.normpath(p) for p in out]


def sha(f):
    h = hashlib.sha256()
    for b in iter(lambda: f.read(1 << 16), b""):
        h.update(b)
    return h.hexdigest()


def fsha(p):
    with open(p, "rb") as f:
        return sha(f)


excl = set(expand(c["exclude_path"]))
pats = c["exclusion_patterns"]


def excluded(p):
    return p in excl or any(fnmatch.fnmatch(p, x) or fnmatch.fnmatch(os.path.basename(p), x) for x in pats)


paths = c["paths"]
missing = [p for p in paths if not glob.has_magic(os.path.expanduser(p)) and not os.path.lexists(os.path.expanduser(p))]
dest = os.path.expanduser(c["dest"]) if c["dest"] else None
targets = [p for p in expand(paths) if not excluded(p) and p != dest]
must = len(targets) > 1 or fmt in ("tar", "zip") or c["force_archive"] or any(os.path.isdir(t) and not os.path.islink(t) for t in targets)
if len(targets) == 1:
    root = os.path.dirname(targets[0])
elif targets:
    root = os.path.commonpath(targets)
    if root in targets:
        root = os.path.dirname(root)
else:
    root = ""
if not dest and targets and not must:
    dest = targets[0] + "." + fmt

# Every file, directory and link to archive: (path, arcname), in order.
files = []
for t in targets:
    files.append(t)
    if os.path.isdir(t) and not os.path.islink(t):
        for d, dirs, names in os.walk(t):
            dirs[:] = sorted(x for x in dirs if not excluded(os.path.join(d, x)))
            for x in dirs:
                files.append(os.path.join(d, x))
            for x in sorted(names):
                p = os.path.join(d, x)
                if not excluded(p) and p != dest:
                    files.append(p)


def arc(p):
    return os.path.relpath(p, root) if root else p.lstrip("/")


def entry(p):
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode):
        return [arc(p), "l", os.readlink(p), 0]
    if stat.S_ISDIR(st.st_mode):
        return [arc(p), "d", "", stat.S_IMODE(st.st_mode)]
    return [arc(p), "f", fsha(p), stat.S_IMODE(st.st_mode)]


def opener(path, mode):
    return {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[fmt](path, mode)


def read_dest():
    if fmt == "zip":
        with zipfile.ZipFile(dest) as z:
            out = []
            for i in z.infolist():
                m = (i.external_attr >> 16) & 0o170000
                name = i.filename.rstrip("/")
                if i.is_dir():
                    out.append([name, "d", "", (i.external_attr >> 16) & 0o7777])
                elif m == stat.S_IFLNK:
                    out.append([name, "l", z.read(i).decode(), 0])
                else:
                    with z.open(i) as f:
                        out.append([name, "f", sha(f), (i.external_attr >> 16) & 0o7777])
            return out
    if not must:
        with opener(dest, "rb") as f:
            return [[arc(targets[0]) if targets else "", "f", sha(f), 0]]
    out = []
    with tarfile.open(dest, "r:*") as t:
        for m in t:
            name = m.name.rstrip("/")
            if m.isdir():
                out.append([name, "d", "", m.mode & 0o7777])
            elif m.issym():
                out.append([name, "l", m.linkname, 0])
            elif m.isfile():
                out.append([name, "f", sha(t.extractfile(m)), m.mode & 0o7777])
    return out


def write():
    tmp = dest + ".opsctl-tmp"
    try:
        if fmt == "zip":
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for p in files:
                    if os.path.islink(p):
                        i = zipfile.ZipInfo(arc(p))
                        i.external_attr = (stat.S_IFLNK | 0o777) << 16
                        z.writestr(i, os.readlink(p))
                    else:
                        z.write(p, arc(p))
        elif must:
            mode = "w" if fmt == "tar" else "w:" + fmt
            with tarfile.open(tmp, mode) as t:
                for p in files:
                    t.add(p, arc(p), recursive=False)
        else:
            with open(targets[0], "rb") as src, opener(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
        os.replace(tmp, dest)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)
    if c["remove"]:
        for p in reversed(files):
            if os.path.isdir(p) and not os.path.islink(p):
                try:
                    os.rmdir(p)
                except OSError:
                    pass
            else:
                os.remove(p)


if c["mode"] == "write":
    write()
    sys.exit(0)

r = {"missing": missing, "targets": targets, "excluded": sorted(excl), "root": root, "archive": must, "dest": dest}
r["entries"] = [entry(p) for p in files] if must else ([[arc(targets[0]), "f", fsha(targets[0]), 0]] if targets else [])
r["dest_entries"] = None
if dest and os.path.lexists(dest):
    st = os.stat(dest)
    r["dest_stat"] = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    try:
        r["dest_stat"]["owner"] = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        pass
    try:
        r["dest_stat"]["group"] = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        pass
    try:
        r["dest_entries"] = read_dest()
    except Exception as e:
        r["dest_error"] = str(e)
print(json.dumps(r))
