/**
 * The dashboard bench's arithmetic (bench/dashboard.bench.ts), kept free of I/O so a unit test
 * can check it (test/unit/bench-dashboard.spec.ts):
 * - what a websocket frame of the dashboard's socket.io is for (event, and the widget it updates);
 * - bytes per tick by topic, largest first;
 * - per tick, from the page's timeline: the first frame's arrival, when the page had settled and
 *   painted, and the long tasks.
 *
 * Times are Unix ms (the bench's Date.now(), the page's performance.timeOrigin + now()): both
 * read the same system clock, so the bench's tick times split the page's timeline.
 */

/** A widget of the flow: what an update-value frame names by its id. */
export interface Widget {
  id: string;
  type: string;
  name?: string;
  /** Its page (ui_tab name), when it has one. */
  page?: string;
}

/**
 * What one frame of the dashboard's socket (Engine.IO 4 + socket.io 4 text packets) is: its kind,
 * for a socket.io event its name and the widget id it carries (`42["update-value",{"id":…}]`).
 */
export function frameEvent(payload: string, binary: boolean): { kind: string; event?: string; id?: string } {
  if (binary) return { kind: '(binary attachment)' };
  const engine = payload.charAt(0);
  if (engine === '2') return { kind: '(engine.io ping)' };
  if (engine === '3') return { kind: '(engine.io pong)' };
  if (engine !== '4') return { kind: `(engine.io packet ${engine || 'empty'})` };
  // socket.io packet: type, [attachments-], [/namespace,], [ack id], JSON
  const m = /^4([0-6])(?:\d+-)?(?:(\/[^,]*),)?\d*([\s\S]*)$/.exec(payload);
  if (!m) return { kind: '(socket.io, unreadable)' };
  if (m[1] !== '2' && m[1] !== '5') return { kind: `(socket.io packet ${m[1]})` };
  let data: unknown;
  try {
    data = JSON.parse(m[3]);
  } catch {
    return { kind: '(socket.io event, not JSON)' };
  }
  if (!Array.isArray(data) || typeof data[0] !== 'string') return { kind: '(socket.io event without a name)' };
  const id = (data[1] as { id?: unknown } | null)?.id;
  return { kind: 'event', event: data[0], ...(typeof id === 'string' ? { id } : {}) };
}

/**
 * The topic of one frame: "update-value: ui_template 'device table' (Devices)" for a widget of the
 * flow, the event and the id for another, the event alone without one, the kind for the rest.
 */
export function frameTopic(payload: string, binary: boolean, widgets: ReadonlyMap<string, Widget>): string {
  const f = frameEvent(payload, binary);
  if (f.kind !== 'event') return f.kind;
  if (f.id === undefined) return f.event!;
  const w = widgets.get(f.id);
  if (!w) return `${f.event}: ${f.id}`;
  return `${f.event}: ${w.type}${w.name ? ` '${w.name}'` : ''}${w.page ? ` (${w.page})` : ''}`;
}

export interface TopicBytes {
  topic: string;
  frames: number;
  bytes: number;
}

/** Frames summed by topic, largest total first. */
export function bytesByTopic(frames: Iterable<{ topic: string; bytes: number }>): TopicBytes[] {
  const by = new Map<string, TopicBytes>();
  for (const f of frames) {
    const t = by.get(f.topic) ?? { topic: f.topic, frames: 0, bytes: 0 };
    t.frames++;
    t.bytes += f.bytes;
    by.set(f.topic, t);
  }
  return [...by.values()].sort((a, b) => b.bytes - a.bytes || a.topic.localeCompare(b.topic));
}

/** Several lists of bytesByTopic summed into one, largest total first. */
export function mergeTopics(lists: readonly (readonly TopicBytes[])[]): TopicBytes[] {
  const by = new Map<string, TopicBytes>();
  for (const list of lists) {
    for (const t of list) {
      const m = by.get(t.topic) ?? { topic: t.topic, frames: 0, bytes: 0 };
      m.frames += t.frames;
      m.bytes += t.bytes;
      by.set(t.topic, m);
    }
  }
  return [...by.values()].sort((a, b) => b.bytes - a.bytes || a.topic.localeCompare(b.topic));
}

/** What the page recorded (the bench's init script): every time is Unix ms. */
export interface PageTimeline {
  /** Arrival of each socket.io message frame, as its message event ran. */
  frames: number[];
  /**
   * For each frame and each MutationObserver callback (`at`): the second requestAnimationFrame
   * after it (`painted`), i.e. a frame was painted with what was there at `at`.
   */
  marks: { at: number; painted: number }[];
  /** PerformanceObserver 'longtask' entries. */
  longTasks: { at: number; ms: number }[];
  /**
   * DOM changes made by the page's own requestAnimationFrame callbacks (a gauge's needle moving
   * over 0.7 s): an animation, not the page settling, so not in `marks`.
   */
  animations?: number[];
}

export interface TickRender {
  /** The bench sent the tick's snapshot at this time. */
  sent: number;
  frames: number;
  /** First frame after the snapshot was sent, ms after the send (the server's part); null without frames. */
  firstFrameMs: number | null;
  /** The longest render of the tick's frames (see renderPerTick), ms; null without frames. */
  renderMs: number | null;
  /** Until the last frame of an animation the tick's frames started (its runs' end, or 100 ms of quiet), ms after the first frame; null without one. */
  animationMs: number | null;
  /** Runs of frames the page rendered separately (a frame that came after the page settled begins one). */
  runs: number;
  longTasks: number;
  longTaskMs: number;
}

/**
 * Splits the page's timeline at the ticks' send times (ascending; the last tick's window ends
 * `periodMs` after it) and gives each tick its render time, from a frame's arrival to the page
 * settled and painted:
 * - a frame begins a run, unless it arrives before the current run has settled (then it joins it);
 * - a mark (a frame or a DOM change, and the paint after it) that comes before the run's paint so
 *   far, or before its last frame, moves the run's end to its paint: the run has settled at the
 *   first paint with no change pending;
 * - a change after that, with no frame (a clock, a timer of the page), is nobody's render.
 * The tick's render is its longest run (what a user waits for at most); a frame that comes a
 * second later (an answer the tick caused further down the flow) is a run of its own.
 * Animations (DOM changes in the page's requestAnimationFrame callbacks) are reported apart: one
 * begins by the end of a run and goes on while its changes come less than ANIMATION_GAP_MS apart.
 */
export const ANIMATION_GAP_MS = 100;

export function renderPerTick(sent: readonly number[], periodMs: number, t: PageTimeline): TickRender[] {
  type Event = { at: number; painted: number | null };
  // frames before marks of the same time: a frame's own mark has its time
  const events: Event[] = [...t.frames.map((at) => ({ at, painted: null })), ...t.marks.map((m) => ({ at: m.at, painted: m.painted }))].sort(
    (a, b) => a.at - b.at || (a.painted === null ? -1 : 0) - (b.painted === null ? -1 : 0),
  );
  return sent.map((start, k) => {
    const end = k + 1 < sent.length ? sent[k + 1] : start + periodMs;
    const long = t.longTasks.filter((l) => l.at >= start && l.at < end);
    const runs: { first: number; last: number; settled: number }[] = [];
    let run: { first: number; last: number; settled: number } | null = null;
    let frames = 0;
    for (const e of events) {
      if (e.at < start) continue;
      if (e.at >= end) break;
      if (e.painted === null) {
        frames++;
        if (run && e.at <= run.settled) run.last = e.at;
        else runs.push((run = { first: e.at, last: e.at, settled: e.at }));
      } else if (run && (e.at <= run.settled || e.at <= run.last)) {
        run.settled = Math.max(run.settled, e.painted);
      }
    }
    const animations = (t.animations ?? []).filter((a) => a >= start && a < end).sort((a, b) => a - b);
    let animationMs: number | null = null;
    for (const r of runs) {
      let i = animations.findIndex((a) => a >= r.first);
      if (i < 0 || animations[i] > r.settled + ANIMATION_GAP_MS) continue;
      while (i + 1 < animations.length && animations[i + 1] - animations[i] < ANIMATION_GAP_MS) i++;
      animationMs = Math.max(animationMs ?? 0, animations[i] - r.first);
    }
    return {
      sent: start,
      frames,
      firstFrameMs: runs.length ? runs[0].first - start : null,
      renderMs: runs.length ? Math.max(...runs.map((r) => r.settled - r.first)) : null,
      animationMs,
      runs: runs.length,
      longTasks: long.length,
      longTaskMs: long.reduce((s, l) => s + l.ms, 0),
    };
  });
}

/** q-quantile of unsorted values (nearest rank, as bench/pipeline-load's quantile); NaN when empty. */
export function quantileOf(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
