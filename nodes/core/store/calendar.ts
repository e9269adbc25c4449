/**
 * Where hours and days begin. Daily rollups and report labels follow the router's wall clock, so
 * "today" in a report is the user's today, not UTC's. Tests and benches pass a fixed offset so
 * their expectations do not depend on the machine's time zone.
 */
export interface Calendar {
  /** Start (unix seconds) of the hour that contains `sec`. */
  hourStart(sec: number): number;
  /** Start (unix seconds) of the day that contains `sec`. */
  dayStart(sec: number): number;
  /** Start of the day after the one that contains `sec` (23 or 25 h later across a DST change). */
  nextDayStart(sec: number): number;
  /** Start of the month that contains `sec`. */
  monthStart(sec: number): number;
  /** Start of the month after the one that contains `sec`. */
  nextMonthStart(sec: number): number;
  /** Wall-clock hour (0..23) of `sec`; cheaper than parts(). */
  hourOfDay(sec: number): number;
  /** Wall-clock parts of `sec`. */
  parts(sec: number): { year: number; month: number; day: number; hour: number; minute: number; second: number };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** "YYYY-MM-DD HH:MM:SS" on the calendar's wall clock (the original EqualNet's timestamp format). */
export function formatTimestamp(calendar: Calendar, sec: number): string {
  const p = calendar.parts(sec);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** "YYYY-MM-DD HH:00", the label of the original's hourly statistics. */
export function formatHour(calendar: Calendar, sec: number): string {
  const p = calendar.parts(sec);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:00`;
}

export function formatDate(calendar: Calendar, sec: number): string {
  const p = calendar.parts(sec);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** A clock that is always `offsetMinutes` ahead of UTC (no daylight saving). */
export function fixedOffsetCalendar(offsetMinutes: number): Calendar {
  const off = offsetMinutes * 60;
  const partsOf = (sec: number) => {
    const d = new Date((sec + off) * 1000);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
    };
  };
  const dayStart = (sec: number) => Math.floor((sec + off) / 86400) * 86400 - off;
  const month = (sec: number, add: number) => {
    const d = new Date((sec + off) * 1000);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + add, 1) / 1000 - off;
  };
  return {
    hourStart: (sec) => Math.floor((sec + off) / 3600) * 3600 - off,
    dayStart,
    nextDayStart: (sec) => dayStart(sec) + 86400,
    hourOfDay: (sec) => Math.floor((((sec + off) % 86400) + 86400) % 86400 / 3600),
    monthStart: (sec) => month(sec, 0),
    nextMonthStart: (sec) => month(sec, 1),
    parts: partsOf,
  };
}

/** The process's local time zone (TZ), daylight saving included. */
export const localCalendar: Calendar = {
  hourStart(sec) {
    const d = new Date(sec * 1000);
    d.setMinutes(0, 0, 0);
    return Math.floor(d.getTime() / 1000);
  },
  dayStart(sec) {
    const d = new Date(sec * 1000);
    d.setHours(0, 0, 0, 0);
    return Math.floor(d.getTime() / 1000);
  },
  nextDayStart(sec) {
    const d = new Date(sec * 1000);
    d.setHours(24, 0, 0, 0);
    return Math.floor(d.getTime() / 1000);
  },
  hourOfDay(sec) {
    return new Date(sec * 1000).getHours();
  },
  monthStart(sec) {
    const d = new Date(sec * 1000);
    return Math.floor(new Date(d.getFullYear(), d.getMonth(), 1).getTime() / 1000);
  },
  nextMonthStart(sec) {
    const d = new Date(sec * 1000);
    return Math.floor(new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime() / 1000);
  },
  parts(sec) {
    const d = new Date(sec * 1000);
    return {
      year: d.getFullYear(),
      month: d.getMonth() + 1,
      day: d.getDate(),
      hour: d.getHours(),
      minute: d.getMinutes(),
      second: d.getSeconds(),
    };
  },
};
