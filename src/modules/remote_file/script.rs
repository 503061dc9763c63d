//! The remote interpreter of the file protocol: one fixed POSIX `sh` script
//! ([`SCRIPT`]) reading a manifest on stdin, and [`WHOAMI_FN`], which tells who
//! runs on the host with shell builtins only.

/// Sets `hu` (effective uid) and `hn` (its user name) with shell builtins only:
/// `id -u; id -un` would start two processes, ~2 ms of the host's CPU each.
pub const WHOAMI_FN: &str = r#"opsctl_whoami() {
  hu=; hn=
  { while read -r _k _r _e _rest; do if [ "$_k" = Uid: ]; then hu=$_e; break; fi; done < /proc/self/status; } 2>/dev/null
  [ -n "$hu" ] || hu=$(id -u)
  { while IFS=: read -r _n _x _i _rest; do if [ "$_i" = "$hu" ]; then hn=$_n; break; fi; done < /etc/passwd; } 2>/dev/null
  [ -n "$hn" ] || hn=$(id -un 2>/dev/null)
}
"#;

/// `uid=N` and `user=NAME` lines (for the probes of modules), without a process.
pub fn whoami_lines() -> String {
    format!("{WHOAMI_FN}opsctl_whoami; echo \"uid=$hu\"; echo \"user=$hn\"\n")
}

// The interpreter in pieces (literals, so that `concat!` joins them): the
// functions every manifest needs, the write ops' helpers, the loop's head and
// read ops, the write ops, the loop's end.
macro_rules! lib {
    () => {
        r#"
d64() { printf '%s' "$1" | base64 -d; echo .; }
e64() { printf '%s' "$1" | base64 -w0; echo; }
nl='
'
tmp=
fail() {
  printf 'x_error=%s\nx_errpath=%s\n' "$1" "$2"
  [ -n "$tmp" ] && rm -f -- "$tmp"
  exit 3
}
# the parent directory of $1 in $d, without forking dirname
pdir() {
  q=$1
  while [ "$q" != / ] && [ "${q%/}" != "$q" ]; do q=${q%/}; done
  case $q in /) d=/ ;; */*) d=${q%/*}; d=${d:-/} ;; *) d=. ;; esac
}
# readlink -f of link $1 in $rp: a directory's with `cd -P` and `pwd -P`
# (a subshell, no exec), anything else with readlink
opsctl_real() {
  case $1 in
    /*) if [ -d "$1" ] && rp=$(cd -P -- "$1" 2>/dev/null && pwd -P); then return 0; fi ;;
  esac
  rp=$(readlink -f -- "$1")
}
opsctl_probe() {
  # $1 follow, $2 sums (comma-separated), $3 content cap, $4 path
  p=$4
  case $p in "~") p=$HOME ;; "~/"*) p=$HOME/${p#"~/"} ;; esac
  echo @@
  case $p in *"$nl"*) printf 'path='; e64 "$p" ;; *) printf 'rpath=%s\n' "$p" ;; esac
  if [ -L "$p" ]; then
    echo link=1
    t=$(readlink -- "$p"; echo .); t=${t%.}; t=${t%"$nl"}
    case $t in *"$nl"*) printf 'target='; e64 "$t" ;; *) printf 'rtarget=%s\n' "$t" ;; esac
    opsctl_real "$p" && case $rp in *"$nl"*) printf 'realpath='; e64 "$rp" ;; *) printf 'rrealpath=%s\n' "$rp" ;; esac
  fi
  if [ -L "$p" ] && [ "$1" != 1 ]; then t=link
  elif [ -d "$p" ]; then t=directory
  elif [ -f "$p" ]; then t=file
  elif [ -e "$p" ]; then t=other
  else t=absent; fi
  echo "type=$t"
  if [ "$t" != absent ]; then
    if [ "$t" = link ]; then s=; else s=-L; fi
    stat $s --printf 'mode=%a\nrawmode=%f\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nmtime=%Y\natime=%X\nctime=%Z\ninode=%i\ndev=%d\nnlink=%h\n' -- "$p"
    [ -r "$p" ] && echo readable=1
    [ -w "$p" ] && echo writable=1
    [ -x "$p" ] && echo executable=1
    if [ "$t" = file ] && [ -r "$p" ]; then
      if [ "$2" != - ]; then
        l=$2,
        while [ -n "$l" ]; do a=${l%%,*}; l=${l#*,}; h=$("${a}sum" < "$p") && echo "sum_$a=${h%% *}"; done
      fi
      case $3 in
        -) ;;
        all) printf 'content='; base64 -w0 < "$p"; echo ;;
        *) printf 'content='; head -c "$3" -- "$p" | base64 -w0; echo ;;
      esac
    fi
  fi
  pdir "$p"
  if [ -d "$d" ]; then echo parent=directory; [ -w "$d" ] && echo parent_writable=1
  elif [ -e "$d" ]; then echo parent=other
  else echo parent=absent; fi
  return 0
}
batch() {
  # $1 follow; $2 count; $3 1 when another batch follows; then a line per path:
  # sha256 wanted (1/0), content cap (- all N), the path. One stat and one
  # sha256sum for all of them, and for the batches before it that deferred
  # theirs (@@defer): stat reads what lstat reads (a link followed: its real
  # path, which has no link left, as statpath=), sha256sum follows links.
  f=$1; n=$2; more=$3; set --; ws=; cs=
  echo @@batch
  while [ "$n" -gt 0 ] && IFS=' ' read -r w c p; do
    case $p in b64:*) p=$(d64 "${p#b64:}"); p=${p%.} ;; esac
    set -- "$@" "$p"; ws="$ws$w,"; cs="$cs$c,"; n=$((n-1))
  done
  wl=$ws
  for p; do
    c=${cs%%,*}; cs=${cs#*,}; w=${wl%%,*}; wl=${wl#*,}
    echo @@
    printf 'rpath=%s\n' "$p"
    rp=
    if [ -L "$p" ]; then
      echo link=1
      # its real path, once for both batches of the same read (no op between);
      # its target is its own stat's %N (followed, it is added to that list)
      if [ "$p" != "$lk_p" ]; then
        lk_p=$p; opsctl_real "$p"; lk_rc=$?; lk_rp=$rp; rp=
      fi
      [ "$f" = 1 ] && la="$la$p$nl"
      [ "$lk_rc" = 0 ] && rp=$lk_rp && case $rp in *"$nl"*) printf 'realpath='; e64 "$rp" ;; *) printf 'rrealpath=%s\n' "$rp" ;; esac
    fi
    if [ -L "$p" ] && [ "$f" != 1 ]; then t=link
    elif [ -d "$p" ]; then t=directory
    elif [ -f "$p" ]; then t=file
    elif [ -e "$p" ]; then t=other
    else t=absent; fi
    echo "type=$t"
    if [ "$t" != absent ]; then
      [ -r "$p" ] && echo readable=1
      [ -w "$p" ] && echo writable=1
      [ -x "$p" ] && echo executable=1
      if [ "$f" = 1 ] && [ -L "$p" ]; then
        case $rp in
          *"$nl"*|'') stat -L --printf "$sf" -- "$p" 2>/dev/null ;;
          *) printf 'statpath=%s\n' "$rp"; sa="$sa$rp$nl" ;;
        esac
      else sa="$sa$p$nl"; fi
      if [ "$w" = 1 ] && [ "$t" = file ] && [ -r "$p" ]; then ss="$ss$p$nl"; echo sumread=1; fi
    fi
    if [ "$t" = file ] && [ -r "$p" ]; then
      case $c in
        -) ;;
        all) printf 'content='; base64 -w0 < "$p"; echo ;;
        *) printf 'content='; head -c "$c" -- "$p" | base64 -w0; echo ;;
      esac
    fi
    pdir "$p"
    if [ -d "$d" ]; then echo parent=directory; [ -w "$d" ] && echo parent_writable=1
    elif [ -e "$d" ]; then echo parent=other
    else echo parent=absent; fi
  done
  if [ "$more" = 1 ]; then echo @@defer; return 0; fi
  echo @@stat
  set -f; IFS=$nl
  set -- $sa$la
  [ $# -gt 0 ] && QUOTING_STYLE=c LC_ALL=C stat --printf "rpath=%n\\nlinkq=%N\\n$sf" -- "$@" 2>/dev/null
  echo @@sums
  set -- $ss
  if [ $# -gt 0 ] && [ -n "${opsctl_also:-}" ]; then
    # a gathering's units' files too (a host without systemd), in the same
    # sha256sum: kept for the units section in $opsctl_sums
    set -- "$@" $opsctl_also; opsctl_also=
    unset IFS; set +f
    opsctl_sums=$(sha256sum -- "$@" 2>/dev/null); opsctl_summed=1
    printf '%s\n' "$opsctl_sums"
  else
    unset IFS; set +f
    if [ $# -gt 0 ]; then sha256sum -- "$@"; fi
  fi
  echo @@end
  sa=; ss=; la=
  return 0
}
"#
    };
}
macro_rules! write_fns {
    () => {
        r#"own() {
  # $1 ids to keep if permitted, $2 owner:group asked (base64), $3 path
  if [ "$1" != - ]; then chown -- "$1" "$3" 2>/dev/null || :; fi
  if [ "$2" != - ]; then o=$(d64 "$2"); chown -- "${o%.}" "$3" || fail chown "$4"; fi
}
mkd() {
  [ -d "$1" ] && return 0
  pdir "$1"
  mkd "$d" "$2" "$3" "$4"
  mkdir -- "$1" || fail mkdir "$4"
  [ "$2" = - ] || chmod "$2" "$1" || fail chmod "$4"
  own - "$3" "$1" "$4"
}
"#
    };
}
macro_rules! head {
    () => {
        r#"# who and where, without starting a process (each costs ~2 ms of the host's CPU)
printf 'host_umask='; umask
opsctl_whoami
printf 'host_uid=%s\nhost_user=%s\n' "$hu" "$hn"
case ${HOME:-} in *"$nl"*) printf 'host_home='; e64 "$HOME" ;; *) printf 'host_home_raw=%s\n' "${HOME:-}" ;; esac
# one op a line: the op, 8 fields, the path (raw, or b64:...)
lk_p=; sa=; ss=; la=
sf='mode=%a\nrawmode=%f\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nmtime=%Y\natime=%X\nctime=%Z\ninode=%i\ndev=%d\nnlink=%h\n'
while IFS=' ' read -r op f1 f2 f3 f4 f5 f6 f7 f8 p; do
  case $p in b64:*) p=$(d64 "${p#b64:}"); p=${p%.} ;; esac
  # the link a batch read is forgotten by any other op (it may change it)
  [ "$op" = B ] || lk_p=
  case $op in
  P) opsctl_probe "$f1" "$f2" "$f3" "$p" ;;
  B) batch "$f1" "$f2" "$f3" ;;
  F) find "$p" -print | while IFS= read -r e; do opsctl_probe 0 sha256 - "$e"; done ;;
  E) t=$(mktemp) && touch -m -t "$f1" -- "$t" && printf 'x_epoch_%s=%s\n' "$f1" "$(stat -c %Y -- "$t")"; rm -f -- "$t" ;;
"#
    };
}
macro_rules! write_ops {
    () => {
        r#"  W|R)
    pdir "$p"
    tmp=$(mktemp "$d/.opsctl.XXXXXX") || fail mktemp "$p"
    if [ "$op" = W ]; then head -c "$f1" > "$tmp" || fail write "$p"
    else s=$(d64 "$f1"); cp -- "${s%.}" "$tmp" || fail copy "$p"; fi
    if [ "$f2" != - ]; then h=$(sha256sum < "$tmp") || fail checksum "$p"; [ "${h%% *}" = "$f2" ] || fail checksum "$p"; fi
    own "$f4" "$f5" "$tmp" "$p"
    chmod "$f3" "$tmp" || fail chmod "$p"
    if [ "$f7" = 1 ]; then opsctl_validate "$tmp" < /dev/null 1>&2 || fail validate "$p"; fi
    if [ "$f6" = 1 ] && [ -f "$p" ]; then
      b="$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~"
      cp -p -- "$p" "$b" || fail backup "$p"
      printf 'x_backup='; e64 "$b"
    fi
    mv -fT -- "$tmp" "$p" || fail rename "$p"
    tmp= ;;
  D) mkd "$p" "$f1" "$f2" "$p" ;;
  M) chmod "$f1" "$p" || fail chmod "$p" ;;
  C) own - "$f1" "$p" "$p" ;;
  H) o=$(d64 "$f1"); chown -h -- "${o%.}" "$p" || fail chown "$p" ;;
  S) t=$(d64 "$f1"); t=${t%.}
     pdir "$p"; l="$d/.opsctl.$$.link"; rm -f -- "$l"
     ln -s -- "$t" "$l" || fail symlink "$p"
     if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" || { rm -f -- "$l"; fail rmdir "$p"; }; fi
     mv -fT -- "$l" "$p" || { rm -f -- "$l"; fail rename "$p"; } ;;
  L) t=$(d64 "$f1")
     if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" || fail rmdir "$p"; fi
     ln -fT -- "${t%.}" "$p" || fail hardlink "$p" ;;
  X) rm -rf -- "$p" || fail remove "$p" ;;
  T) if [ "$f3" = 1 ] && [ ! -e "$p" ] && [ ! -L "$p" ]; then : > "$p" || fail touch "$p"; fi
     case $f1 in -) ;; now) touch -a -c -- "$p" || fail touch "$p" ;; *) touch -a -c -t "$f1" -- "$p" || fail touch "$p" ;; esac
     case $f2 in -) ;; now) touch -m -c -- "$p" || fail touch "$p" ;; *) touch -m -c -t "$f2" -- "$p" || fail touch "$p" ;; esac ;;
"#
    };
}
macro_rules! tail {
    () => {
        r#"  *) fail "unknown op $op" - ;;
  esac
done
"#
    };
}
/// The remote interpreter. Reads a manifest on stdin, one op per line (fields
/// separated by one space; strings base64; `-` for none).
pub const SCRIPT: &str = concat!(
    lib!(),
    write_fns!(),
    head!(),
    write_ops!(),
    tail!(),
    "exit 0\n"
);

/// The interpreter of read-only manifests (probes, batches, listings, epochs:
/// what a gathering reads), written for the gathering's own shell
/// ([`SHARED_SHELL`](crate::modules::protocol::SHARED_SHELL)): no write op,
/// `return` at its end. A third smaller than [`SCRIPT`]: each byte of a script
/// is parsed twice on the host, by the login shell and by `sh`.
pub const READER: &str = concat!(lib!(), head!(), tail!(), "return 0\n");
