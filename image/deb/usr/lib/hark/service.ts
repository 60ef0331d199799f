/** hark.service's ExecStart: hark under systemd, src/system/service.ts of hark's tree (HARK_ROOT, default /opt/hark). */
import type * as Service from '../../../../../src/system/service.ts';
const { runService }: typeof Service = await import(`${process.env.HARK_ROOT ?? '/opt/hark'}/src/system/service.ts`);
await runService(process.argv.slice(2));
