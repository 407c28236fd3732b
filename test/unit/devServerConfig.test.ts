import {
  devServerConfigDrift,
  devServerSettings,
  devServerTuningArgs,
  TEMPORAL_DEV_DYNAMIC_CONFIG,
  TEMPORAL_DEV_SQLITE_PRAGMAS,
} from '../../scripts/provision/temporal';

describe('a reused dev server started with other settings', () => {
  it("is said to differ from this sluice's dynamic config, and by what", () => {
    const today = devServerSettings(TEMPORAL_DEV_DYNAMIC_CONFIG, TEMPORAL_DEV_SQLITE_PRAGMAS);
    expect(devServerConfigDrift([...today].reverse())).toEqual([]);
    // recorded by an older sluice: nothing recorded, so every value is missing
    expect(devServerConfigDrift(undefined)).toEqual(today.map((v) => `without ${v}`));
    // started by the sluice before the SQLite pragmas: the database file still has SQLite's defaults
    expect(devServerConfigDrift(devServerSettings(TEMPORAL_DEV_DYNAMIC_CONFIG, []))).toEqual([
      'without sqlite journal_mode=WAL',
      'without sqlite synchronous=NORMAL',
    ]);
    const older = ['system.enableActivityEagerExecution=true', 'history.transferProcessorMaxPollRPS=20'];
    expect(devServerConfigDrift(older)).toEqual([
      'without history.transferProcessorMaxPollRPS=1000',
      'without history.timerProcessorMaxPollRPS=1000',
      'without history.visibilityProcessorMaxPollRPS=1000',
      'without history.maxInFlightUpdates=100',
      'without sqlite journal_mode=WAL',
      'without sqlite synchronous=NORMAL',
      'with history.transferProcessorMaxPollRPS=20',
    ]);
  });

  it('are passed to the CLI as flag-value pairs (a CLI start and the SDK download alike)', () => {
    const args = devServerTuningArgs();
    expect(args.filter((_, i) => i % 2 === 0)).toEqual([
      ...TEMPORAL_DEV_DYNAMIC_CONFIG.map(() => '--dynamic-config-value'),
      ...TEMPORAL_DEV_SQLITE_PRAGMAS.map(() => '--sqlite-pragma'),
    ]);
    expect(args.filter((_, i) => i % 2 === 1)).toEqual([...TEMPORAL_DEV_DYNAMIC_CONFIG, ...TEMPORAL_DEV_SQLITE_PRAGMAS]);
    expect(args).toContain('synchronous=NORMAL');
  });
});
