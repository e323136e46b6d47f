// Links the two translation units; a non-inline definition in a header breaks the link.
#include <cstdio>

double odr_first();
double odr_second();

int main() {
  const double sum = odr_first() + odr_second();
  if (sum != 4.5) {
    std::printf("unexpected sum %g\n", sum);
    return 1;
  }
  std::printf("odr: two translation units linked, sum %g\n", sum);
  return 0;
}
