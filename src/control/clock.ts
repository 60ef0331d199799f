/** The clock's state for the scheduler and the System page: src/system/clock-sync.ts. */
export { clockState, type ClockProbe, type ClockState } from '../system/clock-sync.ts';
