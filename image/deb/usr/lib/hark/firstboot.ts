/** hark-firstboot.service's ExecStart: src/system/firstboot.ts of hark's tree (HARK_ROOT, default /opt/hark). Usage: firstboot.ts [BOOT_TOML [ETC_DIR]] */
import type * as Firstboot from '../../../../../src/system/firstboot.ts';
const { firstbootMain }: typeof Firstboot = await import(`${process.env.HARK_ROOT ?? '/opt/hark'}/src/system/firstboot.ts`);
await firstbootMain(process.argv.slice(2));
