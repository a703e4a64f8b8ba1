/* agora-report: the `agora report` command as a program of its own. */
#include "report.h"

int
main(int argc, char **argv)
{
    return report_main(argc, argv);
}
