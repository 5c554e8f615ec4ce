"""The course's structure: its tasks with their maxima and titles, and a short Russian name for every test cell.

The one place these live. ``coursekit.build`` checks that every test cell of the template has a name here (and
every name a cell) and that the points of each task's test cells add up to its maximum here, writes the name into
the first line of its cell and into the points table at the top of the notebook, and stores titles and names in
the notebook's metadata (``metadata.gradebot``). The bot reads the tasks, maxima (the cells' nbgrader points),
titles and names from that source notebook (``gradebot.core.course``), never from a submission. Grade ids are
``<task>__<test>`` (``gradebot.core.course_format.task_of``).
"""

from __future__ import annotations

from gradebot.core.course_format import task_of  # noqa: F401  (the grade-id rule, re-exported for the course)

# task -> maximum points (the sum of its test cells' points in the template; the build checks it)
TASKS = {
    "part1_forward": 5,
    "part2_grad_x": 5,
    "part3_training": 10,
    "bonus_conv": 10,
    "bonus_conv_tr": 10,
    "bonus_optimizer": 5,
}

TASK_TITLES = {
    "part1_forward": "1. Прямой проход",
    "part2_grad_x": "2. Производные по входу",
    "part3_training": "3. Градиенты по параметрам и обучение",
    "bonus_conv": "4. Дополнительно: свёрточный слой",
    "bonus_conv_tr": "5. Дополнительно: транспонированная свёртка",
    "bonus_optimizer": "6. Дополнительно: оптимизатор",
}

TEST_NAMES = {
    "part1_forward__dense": "DenseLayer: прямой проход",
    "part1_forward__relu": "ReLU: прямой проход",
    "part1_forward__softmax": "Softmax: прямой проход, в том числе при больших входах",
    "part1_forward__flatten": "FlattenLayer: прямой проход",
    "part1_forward__maxpooling": "MaxPooling: прямой проход, шаг и размер окна",
    "part1_forward__keras_mnist": "Сеть MaxPooling, Flatten, Dense, Softmax: сравнение с Keras на MNIST",
    "part2_grad_x__crossentropy": "CrossEntropy.grad_x: производная потери по вероятностям",
    "part2_grad_x__softmax": "Softmax.grad_x: якобиан по входу",
    "part2_grad_x__relu": "ReLU.grad_x: якобиан по входу, в том числе в нуле",
    "part2_grad_x__dense": "DenseLayer.grad_x: якобиан по входу",
    "part2_grad_x__network": "Network.grad_x: производная потери по входу",
    "part3_training__grad_b": "DenseLayer.grad_b: якобиан по смещению",
    "part3_training__grad_w": "DenseLayer.grad_W: якобиан по весам",
    "part3_training__grad_param": "Network.grad_param: градиенты потери по параметрам",
    "part3_training__train_step": "Network.update и train_step: шаг оптимизатора",
    "part3_training__fit_mnist": "Network.fit: обучение на MNIST",
    "bonus_conv__forward": "Conv2DLayer: прямой проход, сравнение с Keras",
    "bonus_conv__grad_x": "Conv2DLayer: производные по входу",
    "bonus_conv__grad_params": "Conv2DLayer: производные по ядру свёртки и смещению",
    "bonus_conv__pooling_grad": "MaxPooling и FlattenLayer: производные по входу",
    "bonus_conv__training": "Свёрточная сеть обучается",
    "bonus_conv_tr__forward": "Conv2DTrLayer: прямой проход, сравнение с Keras",
    "bonus_conv_tr__grad_x": "Conv2DTrLayer: производные по входу",
    "bonus_conv_tr__grad_params": "Conv2DTrLayer: производные по ядру свёртки и смещению",
    "bonus_conv_tr__training": "Сеть с транспонированной свёрткой обучается",
    "bonus_optimizer__step": "Оптимизатор: шаги по формулам Keras",
    "bonus_optimizer__network": "Оптимизатор: обучение сети",
}


def test_name(grade_id: str) -> str:
    """The Russian name of a test cell (KeyError for an unknown cell: every test must be named)."""
    return TEST_NAMES[grade_id]


def gradebot_metadata() -> dict[str, dict[str, str]]:
    """The notebook-level metadata the bot reads (``metadata.gradebot`` of the source notebook)."""
    return {"tasks": dict(TASK_TITLES), "tests": dict(TEST_NAMES)}
