/* test_where.c - exact text of the tshark display filter and capture:frame (where.c). */
#include "finscope/where.h"

#include <string.h>

#include "unit_check.h"

static void expect(const char *what, struct fsc_where w, int want_n, const char *want)
{
    char buf[512];
    int n = fsc_where_tshark(buf, sizeof buf, &w);
    check(n == want_n && !strcmp(buf, want), what, "got %d [%s], want %d [%s]", n, buf, want_n,
          want);
}

static const char v4[] =
    "((ip.src==10.0.0.1 && tcp.srcport==40000 && ip.dst==10.0.0.2 && tcp.dstport==80) || "
    "(ip.src==10.0.0.2 && tcp.srcport==80 && ip.dst==10.0.0.1 && tcp.dstport==40000))";

static void test_tshark(void)
{
    char frames[] = " && frame.number>=4 && frame.number<=19", want[512];

    snprintf(want, sizeof want, "%s%s", v4, frames);
    expect("ipv4 with frames", (struct fsc_where){"10.0.0.1", "10.0.0.2", 40000, 80, 4, 19},
           (int)strlen(want), want);
    expect("ipv4, frames unknown", (struct fsc_where){"10.0.0.1", "10.0.0.2", 40000, 80, 0, 0},
           (int)strlen(v4), v4);
    snprintf(want, sizeof want, "%s && frame.number>=4", v4);
    expect("first frame only", (struct fsc_where){"10.0.0.1", "10.0.0.2", 40000, 80, 4, 0},
           (int)strlen(want), want);
    expect("last before first: first only",
           (struct fsc_where){"10.0.0.1", "10.0.0.2", 40000, 80, 4, 3}, (int)strlen(want), want);
    static const char v6[] =
        "((ipv6.src==2001:db8::1 && tcp.srcport==1 && ipv6.dst==2001:db8::2 && tcp.dstport==0) "
        "|| (ipv6.src==2001:db8::2 && tcp.srcport==0 && ipv6.dst==2001:db8::1 && "
        "tcp.dstport==1)) && frame.number>=7 && frame.number<=7";
    expect("ipv6 written canonically",
           (struct fsc_where){"2001:0DB8:0::0001", "2001:db8::2", 1, 0, 7, 7}, (int)strlen(v6), v6);
    static const char self[] = "ip.src==127.0.0.1 && tcp.srcport==5000 && ip.dst==127.0.0.1 && "
                               "tcp.dstport==5000 && frame.number>=1 && frame.number<=4";
    expect("self-connect: one direction",
           (struct fsc_where){"127.0.0.1", "127.0.0.1", 5000, 5000, 1, 4}, (int)strlen(self), self);
    /* A hostile database: nothing but an address may reach the filter. */
    expect("injected address", (struct fsc_where){"10.0.0.1) || (1", "10.0.0.2", 1, 2, 0, 0}, -1,
           "");
    expect("NULL address", (struct fsc_where){NULL, "10.0.0.2", 1, 2, 0, 0}, -1, "");
    expect("mixed families", (struct fsc_where){"10.0.0.1", "::1", 1, 2, 0, 0}, -1, "");
    expect("port too large", (struct fsc_where){"10.0.0.1", "10.0.0.2", 65536, 2, 0, 0}, -1, "");
    expect("negative port", (struct fsc_where){"10.0.0.1", "10.0.0.2", 1, -1, 0, 0}, -1, "");

    char small[16];
    struct fsc_where w = {"10.0.0.1", "10.0.0.2", 40000, 80, 0, 0};
    int n = fsc_where_tshark(small, sizeof small, &w);
    check(n == (int)strlen(v4) && !strncmp(small, v4, 15) && small[15] == '\0', "cut short",
          "got %d [%s]", n, small);
}

static void test_frame(void)
{
    char buf[32], tiny[4];
    check(fsc_where_frame(buf, sizeof buf, 3, 17) == 4 && !strcmp(buf, "3:17"), "capture:frame",
          "[%s]", buf);
    check(fsc_where_frame(tiny, sizeof tiny, 3, 17) == -1, "capture:frame cut short", "[%s]", tiny);
}

int main(void)
{
    test_tshark();
    test_frame();
    printf("where: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
