// A hint's message and evidence as a user reads them: every figure with its unit (the
// backend writes "67077 KiB", "14648 µs", share 0.5), `code` spans as code rather than
// literal backticks, evidence as rows of a small table rather than JSON.
import { fmtBytes, fmtCount, fmtPct, fmtTime, num, shortName } from "./format";
import { fmtByteRate, fmtFlopRate, fmtIntensity } from "./work";

export interface EvidenceRow {
  key: string;
  label: string;
  value: string;
}

/** "alloc_bytes_per_step" -> "alloc per step", "forward_us" -> "forward", "ops_per_call" ->
 * "ops per call"; rates keep what they count: "achieved_bytes_per_s" -> "achieved bytes/s",
 * "share_of_peak_flops" -> "share of peak FLOP/s", "flops_per_byte" -> "FLOPs per byte". */
export function evidenceLabel(key: string): string {
  const named = key
    .replace(/(^|_)flops_per_s$/, "$1FLOP/s")
    .replace(/(^|_)bytes_per_s$/, "$1bytes/s")
    .replace(/(^|_)flops_per_byte$/, "$1FLOPs per byte")
    .replace(/(^|_)peak_flops$/, "$1peak FLOP/s")
    .replace(/(^|_)peak_bytes$/, "$1peak bytes/s");
  if (named !== key) {
    const s = named.replace(/_/g, " ");
    return s[0].toUpperCase() + s.slice(1);
  }
  const words = key.split("_").filter((w) => w && w !== "us" && w !== "bytes");
  const s = words.join(" ");
  return s ? s[0].toUpperCase() + s.slice(1) : key;
}

type Unit = "time" | "bytes" | "share" | "ratio" | "count" | "flop-rate" | "byte-rate" | "intensity";

function unitOf(key: string): Unit {
  const k = key.toLowerCase();
  // Shares first: "share_of_peak_bytes" is a share, not a size.
  if (/(^|_)(share|fraction)($|_)/.test(k)) return "share";
  if (/(^|_)flops_per_s$/.test(k)) return "flop-rate";
  if (/(^|_)bytes_per_s$/.test(k)) return "byte-rate";
  if (/(^|_)flops_per_byte$/.test(k)) return "intensity";
  if (/(^|_)us($|_)/.test(k)) return "time";
  if (/(^|_)bytes($|_)/.test(k)) return "bytes";
  if (/(^|_)ratio($|_)/.test(k)) return "ratio";
  return "count";
}

function fmtNumber(v: number, unit: Unit): string {
  switch (unit) {
    case "time":
      return fmtTime(v);
    case "bytes":
      return fmtBytes(v);
    case "share":
      return fmtPct(v * 100);
    case "ratio":
      return `${v < 10 ? v.toFixed(1) : Math.round(v)}×`;
    case "flop-rate":
      return fmtFlopRate(v);
    case "byte-rate":
      return fmtByteRate(v);
    case "intensity":
      return `${fmtIntensity(v)} FLOP/B`;
    default:
      return fmtCount(Math.abs(v) >= 100 ? Math.round(v) : v);
  }
}

/** One evidence value as text: a number in the key's unit, a list joined, a mapping of op
 * types to counts as "StridedSlice ×256, Mul ×64" (largest first). */
export function evidenceValue(key: string, v: unknown): string {
  if (typeof v === "number") return fmtNumber(num(v), unitOf(key));
  if (typeof v === "string") return shortName(v, 120);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (v === null || v === undefined) return "–";
  if (Array.isArray(v)) return v.length ? v.map((x) => evidenceValue(key, x)).join(", ") : "none";
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>);
    if (!entries.length) return "none";
    if (entries.every(([, x]) => typeof x === "number"))
      return entries
        .sort((a, b) => num(b[1]) - num(a[1]))
        .map(([k, x]) => `${k} ×${fmtCount(num(x))}`)
        .join(", ");
    return entries.map(([k, x]) => `${k.replace(/_/g, " ")} ${evidenceValue(k, x)}`).join(", ");
  }
  return String(v);
}

export function evidenceRows(evidence: Record<string, unknown> | null | undefined): EvidenceRow[] {
  if (!evidence || typeof evidence !== "object" || Array.isArray(evidence)) return [];
  return Object.entries(evidence).map(([key, v]) => ({ key, label: evidenceLabel(key), value: evidenceValue(key, v) }));
}

export interface MessagePart {
  text: string;
  code: boolean;
}

/** Raw figures in a message's prose with units: "67077 KiB" -> "65.5 MiB", "14648 µs" -> "14.6 ms". */
export function fmtMessageFigures(text: string): string {
  return text
    .replace(/(\d+(?:\.\d+)?)\s?(B|KiB|MiB|GiB)\b/g, (_, n: string, u: string) => {
      const scale = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[u as "B"]!;
      return fmtBytes(Number(n) * scale);
    })
    .replace(/(\d+(?:\.\d+)?)\s?µs(?![A-Za-z])/g, (_, n: string) => fmtTime(Number(n)));
}

/** A message split at its `backtick` spans (shown as code), figures formatted in the prose. */
export function messageParts(message: string): MessagePart[] {
  const parts: MessagePart[] = [];
  const s = String(message ?? "");
  const re = /`([^`]+)`/g;
  let at = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    if (m.index > at) parts.push({ text: fmtMessageFigures(s.slice(at, m.index)), code: false });
    parts.push({ text: m[1], code: true });
    at = m.index + m[0].length;
  }
  // A lone backtick left over is dropped, not shown.
  if (at < s.length) parts.push({ text: fmtMessageFigures(s.slice(at).replace(/`/g, "")), code: false });
  return parts;
}
